// The video page's run list: which model and options made each run's boxes, whether it reused the results of an
// identical earlier run, and a button to show a run: static/js/video.js then draws that run's boxes, chart and
// classes ("run:show"), and tells which run is drawn ("run:drawn") and when the runs were listed ("runs:listed").

const root = document.getElementById("video-page");
const list = document.getElementById("run-list");
let runs = [];

function describe(job) {
  const parts = [`every ${job.frame_step === 1 ? "" : ordinal(job.frame_step) + " "}frame`];
  if (job.start_frame || job.end_frame !== null) {
    parts.push(`frames ${job.start_frame}–${job.end_frame === null ? "end" : job.end_frame}`);
  }
  if (job.max_fps) parts.push(`at most ${job.max_fps} frames/s`);
  if (job.confidence !== null && job.confidence !== undefined) parts.push(`confidence ≥ ${job.confidence}`);
  parts.push(job.classes && job.classes.length ? `classes ${job.classes.join(", ")}` : "all classes");
  if (job.track) parts.push("tracked");
  return parts.join(" · ");
}

function ordinal(n) {
  const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${tail}`;
}

function text(tag, className, value) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = value;
  return node;
}

function render() {
  const drawn = root.dataset.drawnJob || "";
  list.replaceChildren();
  const own = runs.filter((job) => job.origin !== "import");
  if (!own.length) {
    list.appendChild(text("li", "small", "No run yet."));
    return;
  }
  own.forEach((job, index) => {
    const item = document.createElement("li");
    item.className = "run" + (job.id === drawn ? " shown" : "");
    item.dataset.jobId = job.id;
    const head = document.createElement("div");
    head.append(
      text("strong", "run-model", job.model_name),
      " ",
      text("span", `badge state-${job.status}`, job.status),
      " ",
      text("span", "small", `${job.detections_count} ${job.detections_count === 1 ? "box" : "boxes"}${index === 0 ? " · latest" : ""}`),
    );
    item.appendChild(head);
    const used = text("div", "run-options-used small", describe(job));
    used.id = `run-${job.id}-options`;
    item.appendChild(used);
    if (job.reused_from) {
      item.appendChild(text("div", "run-reused small", "Reused results of an identical earlier run."));
    }
    const button = text("button", "secondary", job.id === drawn ? "Shown" : "Show boxes");
    button.type = "button";
    button.disabled = job.id === drawn || job.status !== "completed";
    button.setAttribute("aria-describedby", used.id);
    button.addEventListener("click", () => {
      root.dispatchEvent(new CustomEvent("run:show", { detail: { jobId: job.id } }));
    });
    item.appendChild(button);
    list.appendChild(item);
  });
}

root.addEventListener("runs:listed", (event) => { runs = event.detail.jobs; render(); });
root.addEventListener("run:drawn", () => render());

fetch(`/api/v1/videos/${root.dataset.videoId}/jobs/?per_page=100`, { credentials: "same-origin" })
  .then((response) => (response.ok ? response.json() : { results: [] }))
  .then((payload) => { if (!runs.length) { runs = payload.results || []; render(); } });
