// The validation panel: import a reference (ground truth), evaluate a run against it, see the per-class table
// and the precision-recall plot (our own SVG), updated by polling while an evaluation runs. Shown once there is
// something to evaluate or to evaluate against.

import { classColor, el, live, page, plural, svg } from "./video_common.js";

const { csrfToken, parseJson, requestJson, showMessage } = live;
const videoId = page.videoId;
let refreshPage = () => Promise.resolve();
const evaluationSection = document.getElementById("evaluation");
const referenceSummary = document.getElementById("reference-summary");
const referenceForm = document.getElementById("reference-form");
const runSelect = document.getElementById("evaluation-run");
const evaluateButton = document.getElementById("evaluate-button");
const evaluationMessage = document.getElementById("evaluation-message");
const evaluationResult = document.getElementById("evaluation-result");
const canWrite = evaluationSection.dataset.canWrite !== "false";
export const importedJobIds = new Set();
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

// Short enough not to be cut in the closed select on a phone; when it finished is the option's title.
function runLabel(job, index) {
  return `${index === 0 ? "Latest: " : ""}${job.model_name} · ${plural(job.detections_count, "box", "boxes")}`;
}

function runFinished(job) {
  return job.finished_at ? `Finished ${new Date(job.finished_at).toLocaleString()}` : "";
}

// Lists the runs; answers the latest run (imported references are not runs).
export function renderValidation(jobs) {
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
    referenceSummary.textContent = `Ground truth: the run ${groundTruth.model_name} (${plural(groundTruth.detections_count, "box", "boxes")}).`;
  }

  const candidates = runs.filter((job) => job.status === "completed" && !job.is_ground_truth);
  const previous = runSelect.value;
  runSelect.textContent = "";
  candidates.forEach((job, index) => {
    const option = el("option", null, runLabel(job, index));
    option.value = job.id;
    option.title = runFinished(job);
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
  evaluationSection.hidden = !candidates.length && !groundTruth;
  loadEvaluation();
  return latestRun;
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

export function setup(refresh) {
  refreshPage = refresh;
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
      return refreshPage();
    })).catch(() => {
      submit.disabled = false;
      say("The server could not be reached; please try again.", true);
    });
  });
}
