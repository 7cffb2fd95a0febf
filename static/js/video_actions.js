// The video's state and what a person can do with it: the badge, why it failed in plain words (and whether a
// retry can help), what a cancel kept, the action buttons (Archive asks first: nothing un-archives a video),
// the exports of the latest run, and the errors table, shown only when there are errors.

import { el, live, page, plural, recoveryLabels, root, words } from "./video_common.js";

const actionMessage = document.getElementById("action-message");
const archiveDialog = document.getElementById("archive-dialog");

// A cancel fails the video (the state machine has no cancelled state), but it reads as cancelled.
export function setState(state, cancelled) {
  live.showState(document.getElementById("state-badge"), state === "failed" && cancelled ? "cancelled" : state);
  root.dataset.state = state;
}

// The same rule as the server's (video_allowed_actions), less Retry where the latest error says it cannot help.
export function allowedFor(detail, retryHelps) {
  const state = detail.state;
  const actions = [];
  if (["initializing", "uploading", "uploaded", "validating", "processing"].includes(state)) actions.push("cancel");
  if (state === "failed" && retryHelps) actions.push("retry");
  if (state === "completed" || state === "failed") actions.push("archive");
  if (state === "completed") actions.push("run");
  return actions;
}

export function renderActions(allowed, retryHidden) {
  document.querySelectorAll("[data-action]").forEach((button) => {
    button.disabled = !allowed.includes(button.dataset.action);
  });
  document.querySelector("[data-action=retry]").hidden = retryHidden;
}

// Why the video failed and what to do, from its latest error; null when it has not failed (or was cancelled).
export function explainFailure(detail, errors) {
  if (detail.state !== "failed" || detail.cancelled_at) return null;
  const latest = errors[0];
  if (!latest) return { reason: detail.last_error_message || "Processing failed.", advice: "", retry: true };
  const advice = (words.recovery_advice || {})[latest.recovery_strategy] || { advice: "", retry: true };
  return {
    reason: (words.failure_reasons || {})[latest.error_code] || latest.message || "Processing failed.",
    advice: advice.advice,
    retry: advice.retry,
  };
}

export function renderFailure(failure) {
  const banner = document.getElementById("failure-banner");
  banner.hidden = !failure;
  if (!failure) return;
  document.getElementById("failure-reason").textContent = failure.reason;
  document.getElementById("failure-advice").textContent = failure.advice;
}

export function renderCancelled(detail, job) {
  const note = document.getElementById("cancelled-note");
  const cancelled = detail.state === "failed" && Boolean(detail.cancelled_at);
  note.hidden = !cancelled;
  document.getElementById("objects-label").textContent = cancelled ? "Objects kept" : "Objects";
  if (!cancelled) return;
  const frames = job ? job.processed_frames : 0;
  const kept = job ? job.detections_count : 0;
  note.textContent = `Cancelled: ${plural(frames, "frame")} processed` +
    `${job && job.total_frames ? ` of ${job.total_frames}` : ""}, ${plural(kept, "detection")} kept.`;
}

export function renderExports(job) {
  const exports = document.getElementById("exports");
  exports.hidden = !job || !job.detections_count;
  if (exports.hidden) return;
  exports.querySelectorAll("a[data-format]").forEach((link) => {
    link.href = `/api/v1/jobs/${job.id}/export/${link.dataset.format}/`;
  });
}

export function renderErrors(errors) {
  const card = document.getElementById("errors-card");
  const body = document.getElementById("errors");
  card.hidden = !errors.length;
  body.textContent = "";
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

// "Another run" takes the options chosen in its fieldset (static/js/run_options.js).
function anotherRunOptions() {
  const fieldset = document.getElementById("another-run-options");
  return fieldset && fieldset.runOptions ? fieldset.runOptions() : {};
}

function perform(action, button, refresh) {
  const url = action === "run" ? `/api/v1/videos/${page.videoId}/jobs/` : `/api/v1/videos/${page.videoId}/${action}/`;
  button.disabled = true;
  live.showMessage(actionMessage, "Working…");
  live.requestJson("POST", url, action === "run" ? anotherRunOptions() : {}).then(({ ok, status, payload }) => {
    if (ok) {
      live.showMessage(actionMessage, {
        retry: "Retry queued.", cancel: "Cancelled.", archive: "Archived.", run: "Another run queued.",
      }[action]);
    } else {
      const error = payload.error || {};
      const allowed = error.details && error.details.allowed_actions;
      const text = (error.message || `The ${action} failed (HTTP ${status}).`) +
        (status === 409 && allowed ? ` Allowed now: ${allowed.length ? allowed.join(", ") : "nothing"}.` : "");
      live.showMessage(actionMessage, text, true);
    }
    return refresh();
  }).catch(() => {
    live.showMessage(actionMessage, "The server could not be reached; please try again.", true);
    button.disabled = false;
  });
}

export function setup(refresh) {
  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      if (action === "cancel" && !window.confirm("Cancel the processing of this video?")) return;
      if (action === "archive") {
        archiveDialog.returnValue = "";
        archiveDialog.showModal();
        return;
      }
      perform(action, button, refresh);
    });
  });
  archiveDialog.addEventListener("close", () => {
    const button = document.querySelector("[data-action=archive]");
    if (archiveDialog.returnValue === "archive") perform("archive", button, refresh);
    else button.focus();
  });
}
