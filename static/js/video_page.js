// The video page: the player with the detected boxes drawn over it (video_player, video_overlay, video_filter),
// the detections browser (video_browser), the chart and the stage timeline (video_charts), the keyboard
// (video_keys), the state and actions (video_actions), the validation panel (video_evaluation), and live
// progress over /ws/videos/<id>/ (static/js/live.js keeps the README's "Live events" contract). While a run is
// under way, the boxes of the frames it has stored are fetched as its progress events arrive.

import * as actions from "./video_actions.js";
import * as browser from "./video_browser.js";
import * as charts from "./video_charts.js";
import { classColor, live, on, page, root, runSpeed, stageLabel } from "./video_common.js";
import * as boxes from "./video_detections.js";
import * as evaluation from "./video_evaluation.js";
import * as filter from "./video_filter.js";
import * as keys from "./video_keys.js";
import * as overlay from "./video_overlay.js";
import * as player from "./video_player.js";

const liveBadge = document.getElementById("live-status");
let listedJobs = [];

function setProgress(pct) {
  const value = live.showProgress(document.getElementById("job-progress"), pct);
  document.getElementById("fig-progress").textContent = Math.floor(value) + "%";
}

// An empty value (no ETA, say) shows as "–".
function setText(id, value) {
  document.getElementById(id).textContent = value === null || value === undefined || value === "" ? "–" : value;
}

function showStage(state, stage) {
  setText("fig-stage", state === "completed" ? "Done" : stage ? stageLabel(stage) : "");
}

function showSpeed(speed) {
  if (speed !== null && speed !== undefined) setText("fig-speed", Number(speed).toFixed(1));
}

// The boxes of a running run appear as it stores them, when that run is the one drawn (or none is yet).
function followRunningBoxes(job) {
  if (!job || !["running", "queued", "retrying"].includes(job.status)) return;
  if (boxes.state.jobId && boxes.state.jobId !== job.id) return;
  boxes.fetchNewFrames(job.id).then(() => {
    if (boxes.state.jobId === job.id) {
      const shown = Number(document.getElementById("fig-objects").textContent) || 0;
      setText("fig-objects", Math.max(shown, boxes.boxCountLoaded()));
    }
  });
}

// The server draws the video's ground truth when one is marked; an imported reference is a person's
// boxes, not a run's, so the player then shows the latest run instead (like the timeline and exports).
function drawLatestRunNotReference() {
  const drawn = boxes.state.jobId;
  if (drawn && evaluation.importedJobIds.has(drawn) && page.latestRun && page.latestRun.status === "completed") {
    boxes.loadRun(page.latestRun.id);
  }
}

function refresh() {
  return Promise.all([
    live.requestJson("GET", `/api/v1/videos/${page.videoId}/`),
    live.requestJson("GET", `/api/v1/videos/${page.videoId}/errors/?per_page=20`),
    live.requestJson("GET", `/api/v1/videos/${page.videoId}/jobs/?per_page=100`),
  ]).then(([detail, errors, jobs]) => {
    if (jobs.ok) {
      listedJobs = jobs.payload.results || [];
      page.latestRun = evaluation.renderValidation(listedJobs);
    }
    const errorRows = errors.ok ? errors.payload.results || [] : [];
    if (errors.ok) actions.renderErrors(errorRows);
    if (detail.ok) {
      const v = detail.payload;
      page.fps = v.fps || page.fps;
      page.width = v.width || page.width;
      page.height = v.height || page.height;
      page.frameCount = v.frame_count || page.frameCount;
      player.usePlayback(v);
      // An imported reference is a job too, but not a run: the timeline and exports follow the latest run.
      let job = v.latest_job;
      if (job && jobs.ok && evaluation.importedJobIds.has(job.id)) job = page.latestRun;
      if (job) page.frameStep = job.frame_step || 1;
      actions.setState(v.state, Boolean(v.cancelled_at));
      setProgress(v.progress_percentage);
      showStage(v.state, v.current_stage);
      // Boxes stored so far while a run is under way; what a cancelled run kept.
      const running = job && job.status === "running";
      const cancelled = v.state === "failed" && v.cancelled_at;
      setText("fig-objects", job && (running || cancelled) ? job.detections_count : v.objects_detected_count);
      if (running) followRunningBoxes(job);
      if (job) {
        setText("fig-frames", job.total_frames ? `${job.processed_frames} / ${job.total_frames}` : job.processed_frames);
        setText("fig-speed", runSpeed(job) === null ? "" : runSpeed(job).toFixed(1));
        setText("fig-eta", job.status === "running" ? live.formatEta(job.estimated_completion_at) : "");
      }
      charts.renderTimeline(job);
      const failure = errors.ok ? actions.explainFailure(v, errorRows) : null;
      if (errors.ok) actions.renderFailure(failure);
      actions.renderActions(actions.allowedFor(v, !failure || failure.retry), Boolean(failure && !failure.retry));
      actions.renderCancelled(v, job);
      actions.renderExports(job);
    }
    drawLatestRunNotReference();
    if (jobs.ok) root.dispatchEvent(new CustomEvent("runs:listed", { detail: { jobs: jobs.payload.results || [] } }));
  });
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

// An event live.js has put in sequence: the figures show where the video is now.
function applyEvent(event) {
  const data = event.data || {};
  actions.setState(event.state, event.event_type === "processing_cancelled" || data.error_code === "cancelled");
  if (data.progress_percentage !== undefined) setProgress(data.progress_percentage);
  if (data.stage) showStage(event.state, data.stage);
  if (data.frames_processed !== undefined) {
    setText("fig-frames", data.total_frames ? `${data.frames_processed} / ${data.total_frames}` : data.frames_processed);
  }
  showSpeed(data.processing_speed);
  setText("fig-eta", event.state === "processing" ? live.formatEta(data.estimated_completion) : "");
  if (data.objects_detected !== undefined) setText("fig-objects", data.objects_detected);
  if (event.event_type === "processing_progress" && page.latestRun) followRunningBoxes(page.latestRun);
  if (event.event_type !== "processing_progress") scheduleRefresh();
  if (event.event_type === "processing_completed") boxes.loadRun();
}

player.setup({ classColor });
overlay.setup();
filter.setup();
browser.setup();
charts.setup();
keys.setup();
actions.setup(refresh);
evaluation.setup(refresh);

// The run list (static/js/run_list.js) asks for a run's boxes; it hears which run is drawn and when the runs
// may have changed.
on("run:show", ({ jobId }) => boxes.loadRun(jobId));
on("run:drawn", ({ jobId }) => {
  const job = listedJobs.find((candidate) => candidate.id === jobId);
  if (job && job.origin !== "import") filter.startAt(job.confidence);
});

refresh();
boxes.loadRun();
live.followVideo(page.videoId, Number(root.dataset.lastSeq) || 0, { badge: liveBadge, onEvent: applyEvent, poll: refresh });
