// The detections browser: per class and per track of the drawn run, how many boxes and when each was first and
// last seen (summed by the server), each a button that takes the player to that frame; and the boxes of the frame
// shown, in words. Together they are the text alternative of the canvas overlay.

import { classColor, el, live, on, page, plural, timecode, trackColor } from "./video_common.js";
import * as boxes from "./video_detections.js";
import { currentFrame, seekToFrame, video } from "./video_player.js";

const summaryText = document.getElementById("browser-summary");
const classList = document.getElementById("browser-classes");
const trackList = document.getElementById("browser-tracks");
const trackPart = document.getElementById("browser-tracks-part");
const frameList = document.getElementById("browser-frame");
const frameHeading = document.getElementById("browser-frame-heading");
const section = document.getElementById("detections-browser");

let requested = "";
let timer = null;
let inFlight = false;

function seen(span) {
  return `${timecode(span.first_seconds)} to ${timecode(span.last_seconds)}`;
}

function entry(swatchColor, title, span, what) {
  const item = el("li", "browser-entry");
  const go = el("button", "entry-main");
  go.type = "button";
  go.dataset.frame = String(span.first_frame);
  const swatch = el("span", "swatch");
  swatch.style.background = swatchColor;
  // The visible text is the button's name (speech input users say what they see); the frames follow it, unseen.
  go.append(swatch, el("span", "entry-name", title), el("span", "entry-figures small",
    `${plural(span.count, "box", "boxes")} · ${seen(span)}`), el("span", "visually-hidden",
    `: first at frame ${span.first_frame}, last at frame ${span.last_frame}. Goes to the first.`));
  go.addEventListener("click", () => { video.pause(); seekToFrame(span.first_frame); });
  const last = el("button", "entry-last secondary", "Last");
  last.type = "button";
  last.dataset.frame = String(span.last_frame);
  last.setAttribute("aria-label", `Last ${what}: go to frame ${span.last_frame}`);
  last.addEventListener("click", () => { video.pause(); seekToFrame(span.last_frame); });
  item.append(go, last);
  return item;
}

function render(summary) {
  // Nothing found by a run that has ended: the card would only say so.
  section.hidden = !summary.boxes && summary.min_confidence === 0 && summary.job_status !== "running";
  classList.textContent = "";
  trackList.textContent = "";
  const floor = Number(summary.min_confidence).toFixed(2);
  summaryText.textContent = summary.boxes
    ? `${plural(summary.boxes, "box", "boxes")} of ${plural(summary.classes.length, "class", "classes")} at confidence ≥ ${floor}` +
      (summary.tracked ? `, ${plural(summary.tracks_total, "track")}` : "") +
      (summary.job_status === "running" ? " so far." : ".")
    : `No box at confidence ≥ ${floor}${summary.job_status === "running" ? " yet" : ""}.`;
  summary.classes.forEach((span) => classList.appendChild(entry(classColor(span.class_name), span.class_name, span, span.class_name)));
  trackPart.hidden = !summary.tracked;
  summary.tracks.forEach((span) => {
    const name = `#${span.track_id} ${span.class_name}`;
    trackList.appendChild(entry(trackColor(span.track_id), name, span, `track ${span.track_id} (${span.class_name})`));
  });
  if (summary.tracks_total > summary.tracks.length) {
    trackList.appendChild(el("li", "small", `The first ${summary.tracks.length} of ${summary.tracks_total} tracks.`));
  }
}

export function refreshSummary() {
  const jobId = boxes.state.jobId;
  if (!jobId) {
    section.hidden = true;
    summaryText.textContent = "No run has stored boxes yet.";
    classList.textContent = "";
    trackList.textContent = "";
    return;
  }
  if (inFlight) { requested = "again"; return; }
  inFlight = true;
  const floor = boxes.getMinConfidence();
  live.requestJson("GET", `/api/v1/jobs/${jobId}/detections/summary/?min_confidence=${floor}`)
    .then(({ ok, payload }) => {
      if (ok && payload.job_id === boxes.state.jobId) render(payload);
      else if (!ok) summaryText.textContent = (payload.error && payload.error.message) || "The summary could not be loaded.";
    })
    .catch(() => { summaryText.textContent = "The server could not be reached."; })
    .finally(() => {
      inFlight = false;
      if (requested) { requested = ""; refreshSummary(); }
    });
}

function refreshSoon(delay) {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => { timer = null; refreshSummary(); }, delay);
}

// The boxes of the frame shown, in words; rewritten only while paused, so playback does not chatter.
function renderFrame(frame, force) {
  if (!force && !video.paused && frameList.childElementCount) return;
  const rows = boxes.rowsAt(frame).filter(boxes.isShown);
  frameHeading.textContent = `In frame ${frame}: ${plural(rows.length, "box", "boxes")}`;
  frameList.textContent = "";
  rows.forEach(([x1, y1, x2, y2, name, confidence, track]) => {
    frameList.appendChild(el("li", null, `${name} ${confidence.toFixed(2)}${track ? ` (track ${track})` : ""} ` +
      `from ${Math.round(x1)},${Math.round(y1)} to ${Math.round(x2)},${Math.round(y2)}`));
  });
}

export function setup() {
  on("boxes:changed", ({ reset }) => {
    refreshSoon(reset ? 0 : 1500);
    renderFrame(currentFrame(), true);
  });
  on("filter:changed", ({ confidence }) => {
    if (confidence) refreshSoon(250);
    renderFrame(currentFrame(), true);
  });
  on("frame:shown", ({ frame }) => renderFrame(frame));
  video.addEventListener("pause", () => renderFrame(currentFrame()));
  if (!page.fps) summaryText.textContent = "The video has no frame rate: the boxes cannot be placed in time.";
}
