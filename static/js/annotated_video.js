// The video page's annotated video (templates/_annotated_video.html): the shown run's classes to choose from,
// the options sent to POST /api/v1/jobs/<id>/annotated-video/, the render followed live, then a download link.
// Progress arrives as "annotated_video" events on the video's socket (/ws/videos/<id>/, the same events and
// envelope static/js/live.js reads); while that socket is down the render's status is polled instead.

const POLL_MS = 3000;
const OPEN_TIMEOUT_MS = 5000;

const section = document.getElementById("annotated-video");
const page = document.getElementById("video-page");
const form = document.getElementById("annotated-video-form");
const classesBox = document.getElementById("annotated-classes");
const confidence = document.getElementById("annotated-min-confidence");
const trails = document.getElementById("annotated-trails");
const trailsHelp = document.getElementById("annotated-trails-help");
const button = document.getElementById("annotated-video-button");
const progress = document.getElementById("annotated-video-progress");
// The bar's and the link's own display rules would beat their hidden attribute: their boxes are what hide.
const progressBox = document.getElementById("annotated-video-progress-box");
const downloadBox = document.getElementById("annotated-video-download-box");
const statusLine = document.getElementById("annotated-video-status");
const download = document.getElementById("annotated-video-download");

const videoId = section.dataset.videoId;
let jobId = (page && page.dataset.drawnJob) || section.dataset.jobId || "";
let runCompleted = false;
let following = null; // { renderId, downloadUrl, socket, pollTimer }

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Resolves with { status, payload } whatever the status; the payload is {} when the body is not JSON.
async function requestJson(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let payload = {};
  try {
    payload = text ? JSON.parse(text) : {};
  } catch (_) { /* a proxy's error page: no JSON */ }
  return { status: response.status, payload };
}

function errorText(payload, fallback) {
  return payload && payload.error && payload.error.message ? payload.error.message : fallback;
}

function say(text, isError) {
  statusLine.className = isError ? "message error" : "message";
  statusLine.textContent = text;
}

function jobUrl(suffix) {
  return `/api/v1/jobs/${encodeURIComponent(jobId)}/annotated-video/${suffix}`;
}

function showClasses(names) {
  const legend = classesBox.querySelector("legend");
  classesBox.replaceChildren(legend);
  names.forEach((name, index) => {
    const label = document.createElement("label");
    label.className = "class-choice";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "classes";
    box.value = name;
    box.id = `annotated-class-${index}`;
    label.htmlFor = box.id;
    label.append(box, ` ${name}`);
    classesBox.appendChild(label);
  });
  if (!names.length) {
    const note = document.createElement("span");
    note.className = "small";
    note.textContent = "This run found nothing to draw.";
    classesBox.appendChild(note);
  }
}

async function loadChoices() {
  stopFollowing();
  downloadBox.hidden = true;
  progressBox.hidden = true;
  button.disabled = true;
  if (!jobId) {
    say("No run yet: an annotated video needs a completed run.");
    return;
  }
  const { status, payload } = await requestJson("GET", jobUrl("choices/"));
  if (status !== 200) {
    say(errorText(payload, `The run's classes could not be loaded (HTTP ${status}).`), true);
    return;
  }
  showClasses(payload.classes || []);
  trails.disabled = !payload.tracked;
  if (!payload.tracked) trails.checked = false;
  trailsHelp.textContent = payload.tracked ? "" : "(this run was not tracked)";
  runCompleted = payload.job_status === "completed";
  button.disabled = !runCompleted;
  say(runCompleted ? "" : `The run is ${payload.job_status}: it can be drawn once it has completed.`);
}

function chosenOptions() {
  const value = Number(confidence.value);
  if (confidence.value === "" || Number.isNaN(value) || value < 0 || value > 1) {
    throw new Error("Confidence must be a number from 0 to 1.");
  }
  const classes = Array.from(classesBox.querySelectorAll("input[name=classes]:checked"), (box) => box.value);
  return { classes, min_confidence: value, trails: trails.checked };
}

function sizeText(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function showRender(render) {
  if (render.status === "ready") {
    // Events name the render, not its URL: the URL is the one the request answered with.
    download.href = render.download_url || following.downloadUrl;
    stopFollowing();
    progressBox.hidden = true;
    downloadBox.hidden = false;
    const size = render.size_bytes ? ` (${sizeText(render.size_bytes)})` : "";
    say(`The annotated video is ready${size}.`);
    button.disabled = !runCompleted;
    return;
  }
  if (render.status === "failed") {
    stopFollowing();
    progressBox.hidden = true;
    say(`The render failed: ${render.error || "no reason given"}. Press the button to try again.`, true);
    button.disabled = !runCompleted;
    return;
  }
  const percentage = Math.max(0, Math.min(100, Number(render.progress_percentage) || 0));
  progressBox.hidden = false;
  progress.value = percentage;
  const frames = render.frames_total ? ` (${render.frames_done} / ${render.frames_total} frames)` : "";
  say(render.status === "queued" ? "Queued for rendering…" : `Rendering… ${Math.round(percentage)}%${frames}`);
}

function stopFollowing() {
  if (!following) return;
  if (following.pollTimer !== null) clearInterval(following.pollTimer);
  if (following.socket) {
    following.socket.onclose = null;
    following.socket.close();
  }
  following = null;
}

async function pollOnce() {
  if (!following) return;
  const { status, payload } = await requestJson("GET", following.downloadUrl);
  if (status === 202 || status === 200) showRender(payload);
  else if (status === 409) showRender({ status: "failed", error: errorText(payload, "") });
}

function startPolling() {
  if (following && following.pollTimer === null) following.pollTimer = setInterval(pollOnce, POLL_MS);
}

// A socket to the video's events, open before the request is sent so that no tick of the render is missed.
function openSocket() {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let socket;
    try {
      socket = new WebSocket(`${scheme}://${location.host}/ws/videos/${videoId}/`);
    } catch (_) {
      resolve(null);
      return;
    }
    const timer = setTimeout(() => resolve(null), OPEN_TIMEOUT_MS);
    socket.onopen = () => {
      clearTimeout(timer);
      resolve(socket);
    };
    socket.onerror = () => {
      clearTimeout(timer);
      resolve(null);
    };
  });
}

function receive(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch (_) {
    return;
  }
  const render = event && event.event_type === "annotated_video" && event.data && event.data.annotated_video;
  if (render && following && render.id === following.renderId) showRender(render);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let options;
  try {
    options = chosenOptions();
  } catch (error) {
    say(error.message, true);
    confidence.focus();
    return;
  }
  stopFollowing();
  button.disabled = true;
  downloadBox.hidden = true;
  say("Sending the options…");
  const socket = await openSocket();
  const { status, payload } = await requestJson("POST", jobUrl(""), options);
  if (status !== 200 && status !== 202) {
    if (socket) socket.close();
    say(errorText(payload, `The annotated video could not be requested (HTTP ${status}).`), true);
    button.disabled = !runCompleted;
    return;
  }
  following = { renderId: payload.id, downloadUrl: payload.download_url, socket, pollTimer: null };
  if (socket) {
    socket.onmessage = receive;
    socket.onclose = startPolling;
    // One look at the status a moment later covers a tick sent before the socket had joined the video's group.
    setTimeout(pollOnce, POLL_MS);
  } else {
    startPolling();
  }
  showRender(payload);
});

if (page) {
  page.addEventListener("run:drawn", (event) => {
    const drawn = event.detail && event.detail.jobId;
    if (drawn && drawn !== jobId) {
      jobId = drawn;
      loadChoices();
    }
  });
}
loadChoices();
