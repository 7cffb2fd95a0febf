// What the video page's modules share: the page's facts (frame rate, size, the run drawn), DOM and SVG
// helpers, colours per class and per track, and the words for times, counts and stages.

export const live = window.MediaPlatformLive; // static/js/live.js, a plain script loaded before the modules

export const root = document.getElementById("video-page");

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent || "{}") : {};
}

export const words = readJson("page-words"); // failure_reasons, recovery_advice, stage_labels
export const recoveryLabels = readJson("recovery-labels");

// The page's facts; the modules read them when they draw and the API refresh keeps them current.
export const page = {
  videoId: root.dataset.videoId,
  fps: Number(root.dataset.fps) || 0,
  width: Number(root.dataset.width) || 0,
  height: Number(root.dataset.height) || 0,
  frameCount: Number(root.dataset.frameCount) || 0,
  frameStep: Number(root.dataset.frameStep) || 1,
  // Seconds of the source before the played file's 0 (a rendition cut from a later start, say).
  timeOffset: 0,
  latestRun: null,
};

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  return node;
}

// "1 box", "2 boxes".
export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many || one + "s"}`;
}

// 0:01.20, or 1:02:03.04 past an hour.
export function timecode(seconds) {
  const total = Math.max(0, Number(seconds) || 0);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = (total % 60).toFixed(2).padStart(5, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function stageLabel(stage) {
  return (words.stage_labels || {})[stage] || String(stage || "").replace(/_/g, " ");
}

// Distinct colours in the order classes are first seen, then hues from the name.
const PALETTE = ["#f59e0b", "#22c55e", "#3b82f6", "#ef4444", "#a855f7", "#14b8a6", "#ec4899", "#84cc16", "#f97316", "#06b6d4"];
const colors = new Map();
export function classColor(name) {
  if (!colors.has(name)) {
    let hash = 0;
    for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
    colors.set(name, colors.size < PALETTE.length ? PALETTE[colors.size] : `hsl(${hash % 360}, 85%, 50%)`);
  }
  return colors.get(name);
}

// Neighbouring track ids get far-apart hues (the golden angle), bright enough on a dark picture.
export function trackColor(trackId) {
  return `hsl(${Math.round((Number(trackId) * 137.508) % 360)}, 90%, 55%)`;
}

// The frames per second a run managed: as reported, else its frames over its time.
export function runSpeed(job) {
  if (!job) return null;
  if (job.frames_per_second) return Number(job.frames_per_second);
  if (job.processed_frames && job.started_at && job.finished_at) {
    const seconds = (new Date(job.finished_at) - new Date(job.started_at)) / 1000;
    if (seconds > 0) return job.processed_frames / seconds;
  }
  return null;
}

export function emit(name, detail) {
  root.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  root.addEventListener(name, (event) => handler(event.detail || {}));
}
