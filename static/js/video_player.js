// The player: which file plays (a rendition when the server names one), the frame number and timecode,
// stepping a frame at a time, a seek strip by frame with markers where the shown classes appear, and
// "frame:shown" whenever the picture moves to another frame.

import { emit, on, page, timecode } from "./video_common.js";
import * as boxes from "./video_detections.js";

export const video = document.getElementById("video");
const seek = document.getElementById("seek");
const markers = document.getElementById("seek-markers");
const readout = document.getElementById("frame-readout");
const MARKER_BINS = 240; // enough to tell scenes apart, few enough elements on an hour-long video

function lastFrame() {
  const stored = boxes.frames();
  return Math.max(page.frameCount - 1, stored.length ? stored[stored.length - 1] : 0, 0);
}

// The source frame shown at the played file's `mediaTime`.
export function currentFrame(mediaTime) {
  const time = (mediaTime === undefined ? video.currentTime : mediaTime) + page.timeOffset;
  return page.fps ? Math.max(0, Math.floor(time * page.fps + 1e-3)) : 0;
}

// Lands in the middle of the frame, so rounding in the decoder cannot show its neighbour.
export function seekToFrame(frame) {
  if (!page.fps) return;
  const target = Math.max(0, Math.min(lastFrame(), Math.round(frame)));
  video.currentTime = Math.max(0, (target + 0.5) / page.fps - page.timeOffset);
  showFrame(target);
}

export function stepFrames(count) {
  video.pause();
  seekToFrame(currentFrame() + count);
}

let shownFrame = -1;
function showFrame(frame) {
  const total = lastFrame();
  readout.textContent = `Frame ${frame}${total ? ` of ${total}` : ""} · ${timecode(page.fps ? frame / page.fps : 0)}`;
  readout.dataset.frame = String(frame);
  seek.max = String(Math.max(total, 1));
  if (document.activeElement !== seek) seek.value = String(frame);
  seek.setAttribute("aria-valuetext", readout.textContent);
  if (frame !== shownFrame) {
    shownFrame = frame;
    emit("frame:shown", { frame, mediaTime: video.currentTime });
  }
}

// The played file: the server's choice when it names one (a rendition a browser can play), else the upload.
export function usePlayback(detail) {
  const playback = detail.playback;
  if (detail.poster_url && video.getAttribute("poster") !== detail.poster_url) video.poster = detail.poster_url;
  if (!playback) return;
  page.timeOffset = Number(playback.time_offset) || 0;
  const player = document.getElementById("player-card");
  if (playback.kind === "none" || !playback.url) {
    player.hidden = true;
    return;
  }
  const wanted = new URL(playback.url, location.href).href;
  if (video.currentSrc !== wanted && video.src !== wanted) {
    const at = video.currentTime;
    video.src = playback.url;
    if (at) video.addEventListener("loadedmetadata", () => { video.currentTime = at; }, { once: true });
  }
}

export function renderMarkers() {
  markers.textContent = "";
  const total = lastFrame() + 1;
  const stored = boxes.frames();
  if (!stored.length || total < 1) return;
  const bins = Math.min(MARKER_BINS, total);
  const perBin = total / bins;
  const counts = new Map(); // bin -> Map(class -> boxes)
  stored.forEach((frame) => {
    boxes.rowsOf(frame).forEach((row) => {
      if (!boxes.isShown(row)) return;
      const bin = Math.min(bins - 1, Math.floor(frame / perBin));
      if (!counts.has(bin)) counts.set(bin, new Map());
      const perClass = counts.get(bin);
      perClass.set(row[4], (perClass.get(row[4]) || 0) + 1);
    });
  });
  counts.forEach((perClass, bin) => {
    let top = null;
    perClass.forEach((n, name) => { if (!top || n > perClass.get(top)) top = name; });
    const mark = document.createElement("span");
    mark.className = "marker";
    mark.dataset.className = top;
    mark.style.left = `${(100 * bin) / bins}%`;
    mark.style.width = `${Math.max(100 / bins, 0.4)}%`;
    mark.style.background = classColorOf(top);
    markers.appendChild(mark);
  });
}

let classColorOf = () => "#f59e0b";
export function setup({ classColor }) {
  classColorOf = classColor;
  document.getElementById("step-back").addEventListener("click", () => stepFrames(-1));
  document.getElementById("step-forward").addEventListener("click", () => stepFrames(1));
  seek.addEventListener("input", () => {
    video.pause();
    seekToFrame(Number(seek.value));
  });
  ["timeupdate", "seeked", "loadeddata", "pause"].forEach((name) =>
    video.addEventListener(name, () => showFrame(currentFrame())));
  video.addEventListener("loadedmetadata", () => {
    if (!page.width) page.width = video.videoWidth;
    if (!page.height) page.height = video.videoHeight;
    showFrame(currentFrame());
  });
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_now, metadata) => {
      showFrame(currentFrame(metadata.mediaTime));
      emit("frame:painted", { mediaTime: metadata.mediaTime });
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  on("boxes:changed", renderMarkers);
  on("filter:changed", renderMarkers);
  showFrame(0);
}
