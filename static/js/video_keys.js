// Keyboard shortcuts for the whole page, and "?" for the dialog that lists them. They stay out of the way of
// typing (text fields, selects) and of the control that has the focus (a button's own space, a slider's arrows).

import { stepFrames, video } from "./video_player.js";

const dialog = document.getElementById("help-dialog");
const SPEEDS = [1, 2, 4];
let lastFocus = null;

function togglePlay() {
  if (video.paused) video.play().catch(() => {});
  else video.pause();
}

// "l" plays forward, faster at each press while playing; "j" goes back a second (browsers cannot play backwards).
function forward() {
  if (video.paused) {
    video.playbackRate = 1;
    video.play().catch(() => {});
    return;
  }
  const next = SPEEDS[Math.min(SPEEDS.length - 1, SPEEDS.indexOf(video.playbackRate) + 1)] || 1;
  video.playbackRate = next;
}

function back() {
  video.currentTime = Math.max(0, video.currentTime - 1);
}

function pause() {
  video.pause();
  video.playbackRate = 1;
}

export function openHelp() {
  if (dialog.open) return;
  lastFocus = document.activeElement;
  dialog.showModal();
}

function typing(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName;
  if (target.isContentEditable || tag === "TEXTAREA" || tag === "SELECT") return true;
  return tag === "INPUT" && !["checkbox", "radio", "button", "submit", "reset", "range"].includes(target.type);
}

// Keys the focused control already answers to: leave them to it.
function ownedByControl(target, key) {
  if (!target || !target.tagName) return false;
  if (key === " " && ["BUTTON", "A", "SUMMARY", "INPUT", "VIDEO"].includes(target.tagName)) return true;
  return false;
}

const ACTIONS = {
  " ": togglePlay,
  k: pause,
  K: pause,
  j: back,
  J: back,
  l: forward,
  L: forward,
  ",": () => stepFrames(-1),
  ".": () => stepFrames(1),
  "?": openHelp,
};

export function setup() {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (dialog.open || typing(event.target) || ownedByControl(event.target, event.key)) return;
    const action = ACTIONS[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
  document.getElementById("help-button").addEventListener("click", openHelp);
  document.getElementById("help-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
  });
}
