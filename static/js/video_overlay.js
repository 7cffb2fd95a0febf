// The boxes drawn over the picture in step with playback, each with its class, confidence and track; for a
// tracked run, each track's path over the last second and a half as a trail in the track's own colour.
// The canvas is hidden from screen readers: the detections browser says the same in text.

import { classColor, on, page, trackColor } from "./video_common.js";
import * as boxes from "./video_detections.js";
import { currentFrame, video } from "./video_player.js";

const canvas = document.getElementById("overlay");
const boxCount = document.getElementById("box-count");
const TRAIL_SECONDS = 1.5;

export function draw(mediaTime) {
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
  const frame = currentFrame(mediaTime);
  const srcW = video.videoWidth || page.width;
  const srcH = video.videoHeight || page.height;
  if (!srcW || !srcH) return;
  // The picture is letterboxed inside the element (object-fit: contain).
  const scale = Math.min(width / srcW, height / srcH);
  const offsetX = (width - srcW * scale) / 2;
  const offsetY = (height - srcH * scale) / 2;
  const rows = boxes.rowsAt(frame).filter(boxes.isShown);

  const trails = rows.filter((row) => row[6] !== null && row[6] !== undefined);
  const since = frame - Math.round(TRAIL_SECONDS * (page.fps || 10));
  ctx.lineJoin = "round";
  trails.forEach((row) => {
    const points = boxes.trailOf(row[6], since, frame);
    if (points.length < 2) return;
    ctx.strokeStyle = trackColor(row[6]);
    ctx.lineWidth = Math.max(1, 3 * ratio);
    ctx.globalAlpha = 0.85;
    ctx.beginPath();
    points.forEach(([, cx, cy], i) => {
      const x = offsetX + cx * scale, y = offsetY + cy * scale;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.globalAlpha = 1;
  });
  canvas.dataset.trails = String(trails.filter((row) => boxes.trailOf(row[6], since, frame).length >= 2).length);

  ctx.lineWidth = Math.max(1, 2 * ratio);
  ctx.font = `${Math.round(11 * ratio)}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  rows.forEach(([x1, y1, x2, y2, name, confidence, track]) => {
    const x = offsetX + x1 * scale, y = offsetY + y1 * scale;
    const w = (x2 - x1) * scale, h = (y2 - y1) * scale;
    // A tracked box takes its track's colour, so box and trail read as one object.
    const color = track === null || track === undefined ? classColor(name) : trackColor(track);
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const label = `${name} ${confidence.toFixed(2)}${track ? " #" + track : ""}`;
    const textWidth = ctx.measureText(label).width + 6 * ratio;
    ctx.fillStyle = color;
    ctx.fillRect(x, Math.max(y - 14 * ratio, 0), textWidth, 14 * ratio);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x + 3 * ratio, Math.max(y, 14 * ratio));
  });
  // What was drawn, in source pixels: the browser tests compare it with the stored boxes.
  canvas.dataset.drawn = String(rows.length);
  canvas.dataset.boxes = JSON.stringify(rows.map((r) => [r[0], r[1], r[2], r[3], r[4], r[6]]));
  canvas.dataset.job = boxes.state.jobId || "";
  canvas.dataset.frame = String(frame);
  canvas.dataset.scale = String(scale);
  canvas.dataset.offset = `${offsetX},${offsetY}`;
  boxCount.textContent = boxes.frames().length ? `${rows.length === 1 ? "1 box" : rows.length + " boxes"} in this frame` : "";
}

export function setup() {
  on("frame:painted", ({ mediaTime }) => draw(mediaTime));
  on("frame:shown", () => draw());
  on("boxes:changed", () => draw());
  on("filter:changed", () => draw());
  ["seeked", "loadeddata", "pause"].forEach((name) => video.addEventListener(name, () => draw()));
  window.addEventListener("resize", () => draw());
}
