// Video page: the player with the detected boxes drawn over it in step with playback (class filter,
// confidence slider), the stage timeline, live progress over /ws/videos/<id>/ (the README's "Live
// events" contract: gap-free seq per video, resume from the last seq, ping, reconnect with backoff,
// polling while down), errors with their recovery strategy, a chart of detections per class over
// time (our own SVG), and the actions (retry, cancel, archive, another run, exports) through the API.
(function () {
  "use strict";

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

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, url, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then((response) =>
      response.text().then((text) => {
        let payload = {};
        try { payload = text ? JSON.parse(text) : {}; } catch (_) { payload = {}; }
        return { status: response.status, ok: response.ok, payload };
      })
    );
  }

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

  function loadDetections() {
    if (loadingDetections) return;
    loadingDetections = true;
    byFrame.clear();
    classTotals.clear();
    const base = root.dataset.detectionsUrl;
    const next = (start) =>
      api("GET", `${base}?start=${start}`).then(({ ok, payload }) => {
        if (!ok) throw new Error(payload.error ? payload.error.message : "could not load detections");
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
      })
      .catch((error) => {
        const note = classFilter.querySelector(".small");
        if (note) note.textContent = String(error.message || error);
      })
      .finally(() => { loadingDetections = false; });
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
  function formatEta(iso) {
    if (!iso) return "–";
    const seconds = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
    return seconds < 60 ? seconds + " s" : Math.round(seconds / 60) + " min";
  }

  function setState(state) {
    const badge = document.getElementById("state-badge");
    badge.className = "badge state-" + state;
    badge.textContent = state;
  }

  function setProgress(pct) {
    const value = Math.max(0, Math.min(100, Number(pct) || 0));
    const bar = document.getElementById("job-progress");
    bar.querySelector(".bar").style.width = value + "%";
    bar.setAttribute("aria-valuenow", String(Math.floor(value)));
    document.getElementById("fig-progress").textContent = Math.floor(value) + "%";
  }

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
      api("GET", `/api/v1/videos/${videoId}/`),
      api("GET", `/api/v1/videos/${videoId}/errors/?per_page=20`),
    ]).then(([detail, errors]) => {
      if (detail.ok) {
        const v = detail.payload;
        fps = v.fps || fps;
        sourceWidth = v.width || sourceWidth;
        sourceHeight = v.height || sourceHeight;
        frameCount = v.frame_count || frameCount;
        const job = v.latest_job;
        if (job) frameStep = job.frame_step || 1;
        setState(v.state);
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
    });
  }

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      const url = action === "run" ? `/api/v1/videos/${videoId}/jobs/` : `/api/v1/videos/${videoId}/${action}/`;
      if (action === "cancel" && !window.confirm("Cancel the processing of this video?")) return;
      button.disabled = true;
      actionMessage.className = "message";
      actionMessage.textContent = "Working…";
      api("POST", url, {}).then(({ ok, status, payload }) => {
        if (ok) {
          actionMessage.textContent = {
            retry: "Retry queued.", cancel: "Cancelled.", archive: "Archived.", run: "Another run queued.",
          }[action];
        } else {
          actionMessage.className = "message error";
          const error = payload.error || {};
          const allowed = error.details && error.details.allowed_actions;
          actionMessage.textContent =
            (error.message || `The ${action} failed (HTTP ${status}).`) +
            (status === 409 && allowed ? ` Allowed now: ${allowed.length ? allowed.join(", ") : "nothing"}.` : "");
        }
        return refresh();
      }).catch(() => {
        actionMessage.className = "message error";
        actionMessage.textContent = "The server could not be reached; please try again.";
        button.disabled = false;
      });
    });
  });

  // ---- Live updates over /ws/videos/<id>/ -------------------------------------------------------
  let lastSeq = Number(root.dataset.lastSeq) || 0;
  let socket = null;
  let resumeInFlight = false;
  let refreshTimer = null;

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function applyEvent(event) {
    if (event.video_id !== videoId || typeof event.seq !== "number") return;
    if (event.seq <= lastSeq) return; // a duplicate
    const from = event.coalesced_from_seq;
    const next = event.event_type === "snapshot" || event.seq === lastSeq + 1 ||
      (typeof from === "number" && from <= lastSeq + 1);
    if (!next) {
      if (!resumeInFlight) {
        resumeInFlight = true;
        send({ type: "resume", last_seq: lastSeq });
      }
      return;
    }
    lastSeq = event.seq;
    const data = event.data || {};
    setState(event.state);
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

  function handleMessage(message) {
    if (message.type === "resumed" || message.type === "error") {
      resumeInFlight = false;
      return;
    }
    if (message.type === "pong" || message.event_type === "subscribed") return;
    applyEvent(message);
  }

  const POLL_MS = 5000;
  let pollTimer = null;
  setInterval(() => send({ type: "ping", last_seq: lastSeq }), 20000);

  let retryDelay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/videos/${videoId}/?last_seq=${lastSeq}`);
    socket.onopen = () => {
      retryDelay = 500;
      if (pollTimer !== null) clearInterval(pollTimer);
      pollTimer = null;
      resumeInFlight = false;
      liveBadge.className = "live on";
      liveBadge.textContent = "live";
    };
    socket.onmessage = (message) => {
      try { handleMessage(JSON.parse(message.data)); } catch (_) { /* not JSON: ignore */ }
    };
    socket.onclose = (closeEvent) => {
      socket = null;
      liveBadge.className = "live off";
      liveBadge.textContent = "offline: polling";
      if (closeEvent.code >= 4400 && closeEvent.code < 4500) return; // refused: reconnecting will not help
      if (pollTimer === null) pollTimer = setInterval(refresh, POLL_MS);
      setTimeout(connect, retryDelay * (0.5 + Math.random()));
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
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
  connect();
})();
