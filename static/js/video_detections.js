// The drawn run's boxes, indexed by frame and by track, with the filter a person set (classes shown,
// confidence floor). Loaded in chunks from the page's packed endpoint; while a run is under way, the frames
// it stores are fetched as they come ("boxes:changed" tells the drawing modules).

import { emit, live, page, root } from "./video_common.js";

const byFrame = new Map(); // frame index -> [[x1, y1, x2, y2, className, confidence, trackId], ...]
const byTrack = new Map(); // track id -> [[frame, centre x, centre y], ...] in frame order
let sortedFrames = [];
const classTotals = new Map();
const hiddenClasses = new Set();
let minConfidence = 0;
let loading = null;
let fetching = false; // new frames of a running run are on their way
let nextStart = 0; // the first frame not fetched yet
export const state = { jobId: null, jobStatus: "" };

function add(payload) {
  const names = payload.classes || [];
  Object.entries(payload.frames || {}).forEach(([key, rows]) => {
    const frame = Number(key);
    const boxes = rows.map((r) => [r[0], r[1], r[2], r[3], names[r[4]], r[5], r[6]]);
    byFrame.set(frame, boxes);
    boxes.forEach((row) => {
      classTotals.set(row[4], (classTotals.get(row[4]) || 0) + 1);
      if (row[6] === null || row[6] === undefined) return;
      if (!byTrack.has(row[6])) byTrack.set(row[6], []);
      byTrack.get(row[6]).push([frame, (row[0] + row[2]) / 2, (row[1] + row[3]) / 2, row[4], row[5]]);
    });
    if (frame >= nextStart) nextStart = frame + 1;
  });
}

function index() {
  sortedFrames = Array.from(byFrame.keys()).sort((a, b) => a - b);
  byTrack.forEach((points) => points.sort((a, b) => a[0] - b[0]));
}

function fetchFrom(jobId, start) {
  const jobParam = jobId ? `&job=${encodeURIComponent(jobId)}` : "";
  return live.requestJson("GET", `${root.dataset.detectionsUrl}?start=${start}${jobParam}`).then(({ ok, payload }) => {
    if (!ok) throw new Error(payload.error ? payload.error.message : "could not load detections");
    state.jobId = payload.job_id || null;
    state.jobStatus = payload.job_status || "";
    add(payload);
    if (payload.next_frame !== null && payload.next_frame !== undefined) return fetchFrom(state.jobId, payload.next_frame);
    return null;
  });
}

// Every box of the run (the server's choice unless one is named), then "boxes:changed".
export function loadRun(jobId) {
  if (loading) return loading;
  byFrame.clear();
  byTrack.clear();
  classTotals.clear();
  nextStart = 0;
  loading = fetchFrom(jobId || null, 0)
    .then(() => {
      index();
      root.dataset.drawnJob = state.jobId || "";
      emit("boxes:changed", { reset: true });
      emit("run:drawn", { jobId: state.jobId });
    })
    .catch((error) => emit("boxes:failed", { message: String(error.message || error) }))
    .finally(() => { loading = null; });
  return loading;
}

// The frames a running run stored since the last look; one request at a time, later calls are merged.
let pending = false;
export function fetchNewFrames(jobId) {
  if (loading || !jobId) return Promise.resolve();
  if (state.jobId && state.jobId !== jobId) return Promise.resolve(); // another run is drawn: leave it
  if (fetching) { pending = true; return Promise.resolve(); }
  fetching = true;
  return fetchFrom(jobId, nextStart)
    .then(() => {
      index();
      root.dataset.drawnJob = state.jobId || "";
      emit("boxes:changed", { reset: false });
    })
    .catch(() => {})
    .finally(() => {
      fetching = false;
      if (pending) { pending = false; fetchNewFrames(jobId); }
    });
}

export function boxCountLoaded() {
  let count = 0;
  byFrame.forEach((rows) => { count += rows.length; });
  return count;
}

export function setMinConfidence(value) { minConfidence = Number(value) || 0; }
export function getMinConfidence() { return minConfidence; }

export function setClassShown(name, shown) {
  if (shown) hiddenClasses.delete(name); else hiddenClasses.add(name);
}

export function isShown(row) {
  return row[5] >= minConfidence && !hiddenClasses.has(row[4]);
}

export function classNames() {
  return Array.from(classTotals.keys()).sort((a, b) => classTotals.get(b) - classTotals.get(a));
}

export function classTotal(name) { return classTotals.get(name) || 0; }
export function isClassHidden(name) { return hiddenClasses.has(name); }
export function frames() { return sortedFrames; }
export function rowsOf(frame) { return byFrame.get(frame) || []; }

// The stored frame shown at `frame`: itself, or the last stored one before it within a run's frame step.
export function rowsAt(frame) {
  let lo = 0, hi = sortedFrames.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sortedFrames[mid] <= frame) { found = sortedFrames[mid]; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0 || frame - found >= Math.max(page.frameStep, 1)) return [];
  return byFrame.get(found) || [];
}

// A track's centres from `fromFrame` up to `frame`, for the trail drawn behind its box.
export function trailOf(trackId, fromFrame, frame) {
  const points = byTrack.get(trackId) || [];
  return points.filter((p) => p[0] >= fromFrame && p[0] <= frame && p[4] >= minConfidence && !hiddenClasses.has(p[3]));
}
