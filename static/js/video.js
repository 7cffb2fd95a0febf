// Video page: the player with the detected boxes drawn over it in step with playback (class filter,
// confidence slider), the stage timeline, live progress over /ws/videos/<id>/ (static/js/live.js keeps
// the README's "Live events" contract: gap-free seq per video, resume from the last seq, ping, reconnect
// with backoff, polling while down), errors with their recovery strategy, a chart of detections per class
// over time (our own SVG), the actions (retry, cancel, archive, another run, exports) through the API, and
// the validation panel: import a reference (ground truth), evaluate a run against it, see the per-class
// table and the precision-recall plot (our own SVG), updated by polling while an evaluation runs.
(function () {
  "use strict";

  const {
    csrfToken, parseJson, requestJson, formatEta, showState, showProgress, showMessage, followVideo,
  } = window.MediaPlatformLive;
  const root = document.getElementById("video-page");
  const videoId = root.dataset.videoId;
  const video = document.getElementById("video");
  const canvas = document.getElementById("overlay");
  const slider = document.getElementById("confidence");
  const sliderValue = document.getElementById("confidence-value");
  const classFilter = document.getElementById("class-filter");
  const boxCount = document.getElementById("box-count");
  const liveBadge = document.getElementById("live-status");
  const actionMessage = document.getElementById("action-message");
  const recoveryLabels = JSON.parse(document.getElementById("recovery-labels").textContent || "{}");

  let fps = Number(root.dataset.fps) || 0;
  let sourceWidth = Number(root.dataset.width) || 0;
  let sourceHeight = Number(root.dataset.height) || 0;
  let frameCount = Number(root.dataset.frameCount) || 0;
  let frameStep = Number(root.dataset.frameStep) || 1;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- Detections, indexed by frame -------------------------------------------------------------
  const byFrame = new Map(); // frame index -> [[x1, y1, x2, y2, className, confidence, trackId], ...]
  let sortedFrames = [];
  const classTotals = new Map();
  const hiddenClasses = new Set();
  let loadingDetections = false;

  // Distinct colours in the order classes are first seen, then hues from the name.
  const PALETTE = ["#f59e0b", "#22c55e", "#3b82f6", "#ef4444", "#a855f7", "#14b8a6", "#ec4899", "#84cc16", "#f97316", "#06b6d4"];
  const colors = new Map();
  function classColor(name) {
    if (!colors.has(name)) {
      let hash = 0;
      for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
      colors.set(name, colors.size < PALETTE.length ? PALETTE[colors.size] : `hsl(${hash % 360}, 85%, 50%)`);
    }
    return colors.get(name);
  }

  let drawnJobId = null; // the run whose boxes are drawn (the server's choice unless one is named)

  function loadDetections(jobId) {
    if (loadingDetections) return;
    loadingDetections = true;
    byFrame.clear();
    classTotals.clear();
    const base = root.dataset.detectionsUrl;
    const jobParam = jobId ? `&job=${encodeURIComponent(jobId)}` : "";
    const next = (start) =>
      requestJson("GET", `${base}?start=${start}${jobParam}`).then(({ ok, payload }) => {
        if (!ok) throw new Error(payload.error ? payload.error.message : "could not load detections");
        drawnJobId = payload.job_id || null;
        const names = payload.classes || [];
        Object.entries(payload.frames || {}).forEach(([frame, rows]) => {
          byFrame.set(Number(frame), rows.map((r) => {
            const name = names[r[4]];
            classTotals.set(name, (classTotals.get(name) || 0) + 1);
            return [r[0], r[1], r[2], r[3], name, r[5], r[6]];
          }));
        });
        if (payload.next_frame !== null && payload.next_frame !== undefined) return next(payload.next_frame);
        return null;
      });
    next(0)
      .then(() => {
        sortedFrames = Array.from(byFrame.keys()).sort((a, b) => a - b);
        renderClassFilter();
        renderChart();
        draw();
        root.dataset.drawnJob = drawnJobId || "";
        root.dispatchEvent(new CustomEvent("run:drawn", { detail: { jobId: drawnJobId } }));
      })
      .catch((error) => {
        const note = classFilter.querySelector(".small");
        if (note) note.textContent = String(error.message || error);
      })
      .finally(() => { loadingDetections = false; })
      .then(drawLatestRunNotReference);
  }

  // The server draws the video's ground truth when one is marked; an imported reference is a person's
  // boxes, not a run's, so the player then shows the latest run instead (like the timeline and exports).
  function drawLatestRunNotReference() {
    if (drawnJobId && importedJobIds.has(drawnJobId) && latestRun && latestRun.status === "completed") {
      loadDetections(latestRun.id);
    }
  }

  function renderClassFilter() {
    classFilter.querySelectorAll("label, .small").forEach((node) => node.remove());
    const names = Array.from(classTotals.keys()).sort((a, b) => classTotals.get(b) - classTotals.get(a));
    if (!names.length) {
      classFilter.appendChild(el("span", "small", "No detections."));
      return;
    }
    names.forEach((name) => {
      const label = el("label", "class-option");
      const box = el("input");
      box.type = "checkbox";
      box.checked = !hiddenClasses.has(name);
      box.value = name;
      box.addEventListener("change", () => {
        if (box.checked) hiddenClasses.delete(name); else hiddenClasses.add(name);
        renderChart();
        draw();
      });
      const swatch = el("span", "swatch");
      swatch.style.background = classColor(name);
      label.append(box, swatch, document.createTextNode(` ${name} (${classTotals.get(name)})`));
      classFilter.appendChild(label);
    });
  }

  function minConfidence() {
    return Number(slider.value) || 0;
  }

  function visible(row) {
    return row[5] >= minConfidence() && !hiddenClasses.has(row[4]);
  }

  // The processed frame shown at `frame`: itself, or the last processed one before it within a step.
  function rowsAt(frame) {
    let lo = 0, hi = sortedFrames.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sortedFrames[mid] <= frame) { found = sortedFrames[mid]; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0 || frame - found >= Math.max(frameStep, 1)) return [];
    return byFrame.get(found) || [];
  }

  // ---- Drawing over the video -------------------------------------------------------------------
  function currentFrame(mediaTime) {
    const time = mediaTime === undefined ? video.currentTime : mediaTime;
    return fps ? Math.floor(time * fps + 1e-3) : 0;
  }

  function draw(mediaTime) {
    const rect = video.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const srcW = video.videoWidth || sourceWidth;
    const srcH = video.videoHeight || sourceHeight;
    if (!srcW || !srcH) return;
    // The picture is letterboxed inside the element (object-fit: contain).
    const scale = Math.min(width / srcW, height / srcH);
    const offsetX = (width - srcW * scale) / 2;
    const offsetY = (height - srcH * scale) / 2;
    const rows = rowsAt(currentFrame(mediaTime)).filter(visible);
    ctx.lineWidth = Math.max(1, 2 * ratio);
    ctx.font = `${Math.round(11 * ratio)}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    rows.forEach(([x1, y1, x2, y2, name, confidence, track]) => {
      const x = offsetX + x1 * scale, y = offsetY + y1 * scale;
      const w = (x2 - x1) * scale, h = (y2 - y1) * scale;
      const color = classColor(name);
      ctx.strokeStyle = color;
      ctx.strokeRect(x, y, w, h);
      const label = `${name} ${confidence.toFixed(2)}${track ? " #" + track : ""}`;
      const textWidth = ctx.measureText(label).width + 6 * ratio;
      ctx.fillStyle = color;
      ctx.fillRect(x, Math.max(y - 14 * ratio, 0), textWidth, 14 * ratio);
      ctx.fillStyle = "#000";
      ctx.fillText(label, x + 3 * ratio, Math.max(y, 14 * ratio));
    });
    canvas.dataset.drawn = String(rows.length);
    canvas.dataset.job = drawnJobId || "";
    canvas.dataset.frame = String(currentFrame(mediaTime));
    boxCount.textContent = sortedFrames.length ? `${rows.length} boxes in this frame` : "";
  }

  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_now, metadata) => {
      draw(metadata.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  ["timeupdate", "seeked", "loadeddata", "loadedmetadata", "pause"].forEach((name) =>
    video.addEventListener(name, () => draw())
  );
  video.addEventListener("loadedmetadata", () => {
    if (!sourceWidth) sourceWidth = video.videoWidth;
    if (!sourceHeight) sourceHeight = video.videoHeight;
  });
  window.addEventListener("resize", () => draw());
  slider.addEventListener("input", () => {
    sliderValue.textContent = minConfidence().toFixed(2);
    renderChart();
    draw();
  });

  // ---- The chart: detections per class over time (SVG) ------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  }

  function renderChart() {
    const chart = document.getElementById("chart");
    chart.textContent = "";
    if (!sortedFrames.length) {
      chart.appendChild(el("p", "small", "No detections yet."));
      return;
    }
    const lastFrame = Math.max(frameCount - 1, sortedFrames[sortedFrames.length - 1], 1);
    const bins = Math.min(60, lastFrame + 1);
    const perBin = (lastFrame + 1) / bins;
    const top = Array.from(classTotals.keys())
      .filter((n) => !hiddenClasses.has(n))
      .sort((a, b) => classTotals.get(b) - classTotals.get(a))
      .slice(0, 6);
    const series = new Map(top.map((name) => [name, new Array(bins).fill(0)]));
    sortedFrames.forEach((frame) => {
      const bin = Math.min(bins - 1, Math.floor(frame / perBin));
      byFrame.get(frame).forEach((row) => {
        if (row[5] >= minConfidence() && series.has(row[4])) series.get(row[4])[bin] += 1;
      });
    });
    let max = 1;
    series.forEach((values) => values.forEach((v) => { if (v > max) max = v; }));
    const W = 480, H = 180, L = 36, B = 22, T = 8, R = 8;
    const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg",
      "aria-label": "Detections per class over time" });
    const x = (i) => L + (bins === 1 ? 0 : (i / (bins - 1)) * (W - L - R));
    const y = (v) => T + (1 - v / max) * (H - T - B);
    plot.appendChild(svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }));
    plot.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: y(0), class: "axis" }));
    [[0, "0"], [max, String(max)]].forEach(([v, label]) => {
      const t = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" });
      t.textContent = label;
      plot.appendChild(t);
    });
    const seconds = fps ? (lastFrame + 1) / fps : lastFrame + 1;
    [[0, "0"], [bins - 1, fps ? `${seconds.toFixed(1)} s` : `frame ${lastFrame}`]].forEach(([i, label]) => {
      const t = svg("text", { x: x(i), y: H - 6, "text-anchor": i ? "end" : "start", class: "tick" });
      t.textContent = label;
      plot.appendChild(t);
    });
    series.forEach((values, name) => {
      const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      const line = svg("polyline", { points, fill: "none", stroke: classColor(name), "stroke-width": 2 });
      const title = svg("title");
      title.textContent = name;
      line.appendChild(title);
      plot.appendChild(line);
    });
    const cursor = svg("line", { x1: L, y1: T, x2: L, y2: y(0), class: "cursor", id: "chart-cursor" });
    plot.appendChild(cursor);
    chart.appendChild(plot);
    const legend = el("ul", "legend");
    series.forEach((_values, name) => {
      const item = el("li");
      const swatch = el("span", "swatch");
      swatch.style.background = classColor(name);
      item.append(swatch, document.createTextNode(" " + name));
      legend.appendChild(item);
    });
    chart.appendChild(legend);
    const moveCursor = () => {
      const frame = currentFrame();
      const pos = L + Math.min(1, frame / lastFrame) * (W - L - R);
      cursor.setAttribute("x1", pos.toFixed(1));
      cursor.setAttribute("x2", pos.toFixed(1));
    };
    video.ontimeupdate = moveCursor;
    moveCursor();
  }

  // ---- Details: state, timeline, actions, errors ------------------------------------------------
  // A cancel fails the video (the state machine has no cancelled state), but it reads as cancelled.
  function setState(state, cancelled) {
    showState(document.getElementById("state-badge"), state === "failed" && cancelled ? "cancelled" : state);
  }

  function setProgress(pct) {
    const value = showProgress(document.getElementById("job-progress"), pct);
    document.getElementById("fig-progress").textContent = Math.floor(value) + "%";
  }

  // An empty value (no ETA, say) shows as "–".
  function setText(id, value) {
    document.getElementById(id).textContent = value === null || value === undefined || value === "" ? "–" : value;
  }

  function renderTimeline(job) {
    const list = document.getElementById("timeline");
    list.textContent = "";
    const stages = (job && job.stages) || [];
    if (!stages.length) {
      list.appendChild(el("li", "small", "No run yet."));
      return;
    }
    const longest = Math.max(0.001, ...stages.map((s) => s.duration_seconds || 0));
    stages.forEach((stage) => {
      const item = el("li", "stage-" + stage.status);
      item.appendChild(el("span", "name", stage.stage));
      item.appendChild(el("span", "badge", stage.status));
      const seconds = stage.duration_seconds;
      item.appendChild(el("span", "duration", seconds === null || seconds === undefined ? "" : `${seconds.toFixed(2)} s`));
      const track = el("span", "track");
      const fill = el("span", "fill");
      fill.style.width = `${seconds ? Math.max(2, (100 * seconds) / longest) : 0}%`;
      track.appendChild(fill);
      item.appendChild(track);
      list.appendChild(item);
    });
  }

  function renderActions(allowed) {
    document.querySelectorAll("[data-action]").forEach((button) => {
      button.disabled = !allowed.includes(button.dataset.action);
    });
  }

  function renderExports(job) {
    const exports = document.getElementById("exports");
    exports.hidden = !job;
    if (!job) return;
    exports.querySelectorAll("a[data-format]").forEach((link) => {
      link.href = `/api/v1/jobs/${job.id}/export/${link.dataset.format}/`;
    });
  }

  function allowedFor(detail) {
    const state = detail.state;
    const actions = [];
    if (["initializing", "uploading", "uploaded", "validating", "processing"].includes(state)) actions.push("cancel");
    if (state === "failed") actions.push("retry");
    if (state === "completed" || state === "failed") actions.push("archive");
    if (state === "completed") actions.push("run");
    return actions;
  }

  function renderErrors(errors) {
    const body = document.getElementById("errors");
    body.textContent = "";
    if (!errors.length) {
      const row = el("tr", "empty");
      const cell = el("td", "small", "None.");
      cell.colSpan = 4;
      row.appendChild(cell);
      body.appendChild(row);
      return;
    }
    errors.forEach((error) => {
      const row = el("tr");
      row.appendChild(el("td", "small", new Date(error.created_at).toLocaleString()));
      row.appendChild(el("td", null, error.stage));
      const what = el("td");
      what.appendChild(el("strong", null, error.error_code || error.error_type));
      what.appendChild(el("div", "error-text", error.message));
      row.appendChild(what);
      row.appendChild(el("td", "recovery", recoveryLabels[error.recovery_strategy] || error.recovery_strategy));
      body.appendChild(row);
    });
  }

  function refresh() {
    return Promise.all([
      requestJson("GET", `/api/v1/videos/${videoId}/`),
      requestJson("GET", `/api/v1/videos/${videoId}/errors/?per_page=20`),
      requestJson("GET", `/api/v1/videos/${videoId}/jobs/?per_page=100`),
    ]).then(([detail, errors, jobs]) => {
      if (jobs.ok) renderValidation(jobs.payload.results || []);
      if (detail.ok) {
        const v = detail.payload;
        fps = v.fps || fps;
        sourceWidth = v.width || sourceWidth;
        sourceHeight = v.height || sourceHeight;
        frameCount = v.frame_count || frameCount;
        // An imported reference is a job too, but not a run: the timeline and exports follow the latest run.
        let job = v.latest_job;
        if (job && jobs.ok && importedJobIds.has(job.id)) job = latestRun;
        if (job) frameStep = job.frame_step || 1;
        setState(v.state, Boolean(v.cancelled_at));
        setProgress(v.progress_percentage);
        setText("fig-stage", v.state === "completed" ? "done" : v.current_stage);
        setText("fig-objects", v.objects_detected_count);
        if (job) {
          setText("fig-frames", job.total_frames ? `${job.processed_frames} / ${job.total_frames}` : job.processed_frames);
          setText("fig-speed", job.frames_per_second === null ? "" : Number(job.frames_per_second).toFixed(1));
          setText("fig-eta", job.status === "running" ? formatEta(job.estimated_completion_at) : "");
        }
        renderTimeline(job);
        renderActions(allowedFor(v));
        renderExports(job);
      }
      if (errors.ok) renderErrors(errors.payload.results || []);
      if (jobs.ok) root.dispatchEvent(new CustomEvent("runs:listed", { detail: { jobs: jobs.payload.results || [] } }));
    });
  }

  // "Another run" takes the options chosen in its fieldset (static/js/run_options.js).
  function anotherRunOptions() {
    const fieldset = document.getElementById("another-run-options");
    return fieldset && fieldset.runOptions ? fieldset.runOptions() : {};
  }

  // The run list (static/js/run_list.js) asks for a run's boxes; it hears which run is drawn and when the
  // runs may have changed.
  root.addEventListener("run:show", (event) => loadDetections(event.detail.jobId));

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      const url = action === "run" ? `/api/v1/videos/${videoId}/jobs/` : `/api/v1/videos/${videoId}/${action}/`;
      if (action === "cancel" && !window.confirm("Cancel the processing of this video?")) return;
      button.disabled = true;
      showMessage(actionMessage, "Working…");
      requestJson("POST", url, action === "run" ? anotherRunOptions() : {}).then(({ ok, status, payload }) => {
        if (ok) {
          showMessage(actionMessage, {
            retry: "Retry queued.", cancel: "Cancelled.", archive: "Archived.", run: "Another run queued.",
          }[action]);
        } else {
          const error = payload.error || {};
          const allowed = error.details && error.details.allowed_actions;
          const text = (error.message || `The ${action} failed (HTTP ${status}).`) +
            (status === 409 && allowed ? ` Allowed now: ${allowed.length ? allowed.join(", ") : "nothing"}.` : "");
          showMessage(actionMessage, text, true);
        }
        return refresh();
      }).catch(() => {
        showMessage(actionMessage, "The server could not be reached; please try again.", true);
        button.disabled = false;
      });
    });
  });

  // ---- Validation against ground truth -----------------------------------------------------------
  const evaluationSection = document.getElementById("evaluation");
  const referenceSummary = document.getElementById("reference-summary");
  const referenceForm = document.getElementById("reference-form");
  const runSelect = document.getElementById("evaluation-run");
  const evaluateButton = document.getElementById("evaluate-button");
  const evaluationMessage = document.getElementById("evaluation-message");
  const evaluationResult = document.getElementById("evaluation-result");
  const canWrite = evaluationSection.dataset.canWrite !== "false";
  const importedJobIds = new Set();
  let latestRun = null;
  let groundTruth = null;
  let evaluationPoll = null;
  let shownEvaluationKey = "";

  function say(text, isError) {
    showMessage(evaluationMessage, text, isError);
  }

  // The API's messages name the place at fault themselves (line, entry, field).
  function errorText(payload, fallback) {
    return (payload.error && payload.error.message) || fallback;
  }

  function tell(text) {
    document.getElementById("evaluation-state").textContent = text;
  }

  function runLabel(job, index) {
    const when = job.finished_at ? new Date(job.finished_at).toLocaleString() : "";
    return `${index === 0 ? "Latest: " : ""}${job.model_name} · ${job.detections_count} boxes${when ? " · " + when : ""}`;
  }

  function renderValidation(jobs) {
    importedJobIds.clear();
    jobs.forEach((job) => { if (job.origin === "import") importedJobIds.add(job.id); });
    const runs = jobs.filter((job) => job.origin !== "import");
    latestRun = runs[0] || null;
    groundTruth = jobs.find((job) => job.is_ground_truth) || null;

    if (!groundTruth) {
      referenceSummary.textContent = "No ground truth yet: import a reference file, or mark a run with the API.";
    } else if (groundTruth.origin === "import" && groundTruth.reference) {
      const ref = groundTruth.reference;
      const extra = [];
      if (ref.clipped_boxes) extra.push(`${ref.clipped_boxes} clipped at the frame edge`);
      Object.entries(ref.skipped || {}).forEach(([why, n]) => extra.push(`${n} ${why} left out`));
      referenceSummary.textContent = `Ground truth: ${ref.filename} (${ref.format.toUpperCase()}), ${ref.boxes} boxes ` +
        `on ${ref.frames} frames${extra.length ? "; " + extra.join(", ") : ""}.`;
    } else {
      referenceSummary.textContent = `Ground truth: the run ${groundTruth.model_name} (${groundTruth.detections_count} boxes).`;
    }

    const candidates = runs.filter((job) => job.status === "completed" && !job.is_ground_truth);
    const previous = runSelect.value;
    runSelect.textContent = "";
    candidates.forEach((job, index) => {
      const option = el("option", null, runLabel(job, index));
      option.value = job.id;
      runSelect.appendChild(option);
    });
    if (!candidates.length) {
      const option = el("option", null, "No completed run");
      option.value = "";
      runSelect.appendChild(option);
    } else if (candidates.some((job) => job.id === previous)) {
      runSelect.value = previous;
    }
    runSelect.disabled = !candidates.length;
    evaluateButton.disabled = !candidates.length || !groundTruth || !canWrite;
    referenceForm.querySelectorAll("input, select, button").forEach((node) => { node.disabled = !canWrite; });
    drawLatestRunNotReference();
    loadEvaluation();
  }

  function loadEvaluation() {
    const runId = runSelect.value;
    if (!runId) {
      showEvaluation(null);
      return Promise.resolve();
    }
    // The list answers 200 (empty before the first evaluation): the page never provokes a 404.
    return requestJson("GET", `/api/v1/videos/${videoId}/evaluations/?per_page=100`).then(({ ok, payload }) => {
      if (!ok || runSelect.value !== runId) return;
      const latest = (payload.results || []).find((evaluation) => evaluation.job_id === runId) || null;
      showEvaluation(latest);
      if (latest && (latest.status === "pending" || latest.status === "running")) pollEvaluation(runId);
    });
  }

  function pollEvaluation(runId) {
    if (evaluationPoll) clearTimeout(evaluationPoll);
    evaluationPoll = setTimeout(() => {
      evaluationPoll = null;
      requestJson("GET", `/api/v1/jobs/${runId}/evaluation/`).then(({ ok, payload }) => {
        if (runSelect.value !== runId) return;
        if (!ok) { pollEvaluation(runId); return; }
        showEvaluation(payload);
        if (payload.status === "pending" || payload.status === "running") pollEvaluation(runId);
      }).catch(() => pollEvaluation(runId));
    }, 1000);
  }

  function figure(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(3);
  }

  function showEvaluation(evaluation) {
    const key = evaluation ? `${evaluation.id}:${evaluation.status}` : "";
    if (key === shownEvaluationKey && evaluation && evaluation.status === "completed") return;
    shownEvaluationKey = key;
    evaluationResult.dataset.evaluationId = evaluation ? String(evaluation.id) : "";
    evaluationResult.dataset.status = evaluation ? evaluation.status : "";
    if (!evaluation) {
      evaluationResult.hidden = true;
      tell(runSelect.value && groundTruth ? "This run has not been evaluated yet." : "");
      return;
    }
    if (evaluation.status === "failed") {
      evaluationResult.hidden = true;
      tell(`The evaluation failed: ${evaluation.error_message || "unknown error"}`);
      return;
    }
    if (evaluation.status !== "completed") {
      evaluationResult.hidden = true;
      tell("Evaluating the run against the ground truth…");
      return;
    }
    if (evaluationMessage.textContent === "Evaluation queued.") say("");
    const when = evaluation.finished_at ? new Date(evaluation.finished_at).toLocaleString() : "";
    const stale = groundTruth && evaluation.reference_job_id !== groundTruth.id;
    tell(`Evaluated ${when}: precision ${figure(evaluation.precision)}, recall ${figure(evaluation.recall)}, ` +
      `mAP@0.5 ${figure(evaluation.map50)}, mAP@0.5:0.95 ${figure(evaluation.map50_95)}.` +
      (stale ? " The ground truth has changed since: evaluate again." : ""));
    renderEvaluationTable(evaluation);
    renderPrPlot(evaluation);
    evaluationResult.hidden = false;
  }

  function renderEvaluationTable(evaluation) {
    const rows = document.getElementById("evaluation-rows");
    rows.textContent = "";
    const perClass = (evaluation.report && evaluation.report.per_class) || [];
    perClass.forEach((row) => {
      const tr = el("tr");
      const name = el("th");
      name.scope = "row";
      const swatch = el("span", "swatch");
      swatch.style.background = classColor(row.class_name);
      name.append(swatch, document.createTextNode(" " + row.class_name));
      tr.appendChild(name);
      [row.precision, row.recall, row.ap50, row.ap50_95].forEach((value) => tr.appendChild(el("td", null, figure(value))));
      tr.appendChild(el("td", "counts",
        `TP ${row.true_positives} · FP ${row.false_positives} · FN ${row.false_negatives} ` +
        `(${row.ground_truth_count} true, ${row.prediction_count} found)`));
      rows.appendChild(tr);
    });
    const total = document.getElementById("evaluation-total");
    total.textContent = "";
    const tr = el("tr");
    const label = el("th", null, "All classes");
    label.scope = "row";
    tr.appendChild(label);
    [evaluation.precision, evaluation.recall, evaluation.map50, evaluation.map50_95].forEach((value) =>
      tr.appendChild(el("td", null, figure(value))));
    const sum = (key) => perClass.reduce((acc, row) => acc + (row[key] || 0), 0);
    tr.appendChild(el("td", "counts", `TP ${sum("true_positives")} · FP ${sum("false_positives")} · ` +
      `FN ${sum("false_negatives")}`));
    total.appendChild(tr);
  }

  function renderPrPlot(evaluation) {
    const holder = document.getElementById("pr-plot-drawing");
    holder.textContent = "";
    const perClass = ((evaluation.report && evaluation.report.per_class) || []).filter((row) => row.ground_truth_count > 0);
    const W = 320, H = 240, L = 40, R = 10, T = 10, B = 36;
    const x = (recall) => L + recall * (W - L - R);
    const y = (precision) => T + (1 - precision) * (H - T - B);
    const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg pr-svg",
      "aria-labelledby": "pr-title pr-desc" });
    const title = svg("title", { id: "pr-title" });
    title.textContent = "Precision-recall curves";
    const desc = svg("desc", { id: "pr-desc" });
    desc.textContent = perClass.map((row) => `${row.class_name}: AP@0.5 ${figure(row.ap50)}`).join("; ") || "No class has ground truth.";
    plot.append(title, desc);
    [0, 0.5, 1].forEach((v) => {
      plot.appendChild(svg("line", { x1: x(0), y1: y(v), x2: x(1), y2: y(v), class: v ? "grid" : "axis" }));
      plot.appendChild(svg("line", { x1: x(v), y1: y(0), x2: x(v), y2: y(1), class: v ? "grid" : "axis" }));
      const yt = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" });
      yt.textContent = String(v);
      const xt = svg("text", { x: x(v), y: H - B + 14, "text-anchor": "middle", class: "tick" });
      xt.textContent = String(v);
      plot.append(yt, xt);
    });
    const xLabel = svg("text", { x: x(0.5), y: H - 4, "text-anchor": "middle", class: "tick axis-label" });
    xLabel.textContent = "Recall";
    const yLabel = svg("text", { x: 10, y: y(0.5), "text-anchor": "middle", class: "tick axis-label",
      transform: `rotate(-90 10 ${y(0.5)})` });
    yLabel.textContent = "Precision";
    plot.append(xLabel, yLabel);
    perClass.forEach((row) => {
      const points = (row.precision_at_recall || [])
        .map((precision, i) => `${x(i / 100).toFixed(1)},${y(precision || 0).toFixed(1)}`).join(" ");
      const line = svg("polyline", { points, fill: "none", stroke: classColor(row.class_name), "stroke-width": 2 });
      const name = svg("title");
      name.textContent = `${row.class_name} (AP@0.5 ${figure(row.ap50)})`;
      line.appendChild(name);
      plot.appendChild(line);
    });
    holder.appendChild(plot);
    const legend = el("ul", "legend");
    perClass.forEach((row) => {
      const item = el("li");
      const swatch = el("span", "swatch");
      swatch.style.background = classColor(row.class_name);
      item.append(swatch, document.createTextNode(` ${row.class_name} (AP@0.5 ${figure(row.ap50)})`));
      legend.appendChild(item);
    });
    holder.appendChild(legend);
  }

  runSelect.addEventListener("change", () => {
    shownEvaluationKey = "";
    loadEvaluation();
  });

  evaluateButton.addEventListener("click", () => {
    const runId = runSelect.value;
    if (!runId) return;
    evaluateButton.disabled = true;
    say("Queuing the evaluation…");
    requestJson("POST", `/api/v1/jobs/${runId}/evaluation/`).then(({ ok, status, payload }) => {
      evaluateButton.disabled = false;
      if (!ok) {
        say(errorText(payload, `The evaluation could not be queued (HTTP ${status}).`), true);
        return;
      }
      say("Evaluation queued.");
      shownEvaluationKey = "";
      showEvaluation(payload);
      pollEvaluation(runId);
    }).catch(() => {
      evaluateButton.disabled = false;
      say("The server could not be reached; please try again.", true);
    });
  });

  referenceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const fileInput = document.getElementById("reference-file");
    if (!fileInput.files.length) {
      say("Choose a reference file first.", true);
      fileInput.focus();
      return;
    }
    const form = new FormData();
    form.append("file", fileInput.files[0]);
    const format = document.getElementById("reference-format").value;
    const classes = document.getElementById("reference-classes").value.trim();
    if (format) form.append("format", format);
    if (classes) form.append("classes", classes);
    const submit = document.getElementById("reference-submit");
    submit.disabled = true;
    say("Importing the reference…");
    fetch(`/api/v1/videos/${videoId}/ground-truth/`, {
      method: "POST", credentials: "same-origin", body: form,
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    }).then((response) => response.text().then((text) => {
      const payload = parseJson(text);
      submit.disabled = false;
      if (!response.ok) {
        say(errorText(payload, `The import failed (HTTP ${response.status}).`), true);
        return;
      }
      const ref = payload.reference || {};
      referenceForm.reset();
      say(`Imported ${ref.boxes} boxes on ${ref.frames} frames from ${ref.filename}; it is now the ground truth.`);
      shownEvaluationKey = "";
      return refresh();
    })).catch(() => {
      submit.disabled = false;
      say("The server could not be reached; please try again.", true);
    });
  });

  // ---- Live updates over /ws/videos/<id>/ -------------------------------------------------------
  let refreshTimer = null;

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
  }

  // An event live.js has put in sequence: the figures show where the video is now.
  function applyEvent(event) {
    const data = event.data || {};
    setState(event.state, event.event_type === "processing_cancelled" || data.error_code === "cancelled");
    if (data.progress_percentage !== undefined) setProgress(data.progress_percentage);
    if (data.stage) setText("fig-stage", event.state === "completed" ? "done" : data.stage);
    if (data.frames_processed !== undefined) {
      setText("fig-frames", data.total_frames ? `${data.frames_processed} / ${data.total_frames}` : data.frames_processed);
    }
    if (data.processing_speed !== undefined && data.processing_speed !== null) {
      setText("fig-speed", Number(data.processing_speed).toFixed(1));
    }
    setText("fig-eta", event.state === "processing" ? formatEta(data.estimated_completion) : "");
    if (data.objects_detected !== undefined) setText("fig-objects", data.objects_detected);
    if (event.event_type !== "processing_progress") scheduleRefresh();
    if (event.event_type === "processing_completed") loadDetections();
  }

  // Keyboard: space plays/pauses, arrows step a frame, when the player area has focus.
  document.getElementById("player").addEventListener("keydown", (event) => {
    if (event.target !== video) return;
    if (event.key === "," || event.key === ".") {
      event.preventDefault();
      video.pause();
      video.currentTime = Math.max(0, video.currentTime + (event.key === "." ? 1 : -1) / (fps || 25));
    }
  });

  refresh();
  loadDetections();
  followVideo(videoId, Number(root.dataset.lastSeq) || 0, { badge: liveBadge, onEvent: applyEvent, poll: refresh });
})();
