// The upload queue: files picked, or dropped anywhere on the page, wait in a list until `start()` sends them
// all to the tus endpoint (resumable: README, "tus uploads") through Uppy. Each row shows percent, bytes,
// speed and time left, and has Cancel (which also removes the upload from the server). When the connection
// drops, rows wait for it to come back and then go on from the offset the server holds, not from zero.
import { DropTarget, Tus, Uppy } from "../vendor/uppy/uppy.min.mjs";

const MIB = 1024 * 1024;
const SPEED_WINDOW_MS = 5000; // speed over the last few seconds: steady enough to read, quick to follow

function formatBytes(bytes) {
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// The API's error body's message, from the response tus-js-client kept, or the error's own text.
function errorMessage(error) {
  const response = error && (error.originalResponse || (error.cause && error.cause.originalResponse));
  if (response) {
    try {
      const body = JSON.parse(response.getBody());
      if (body && body.error && body.error.message) return body.error.message;
    } catch (_) {
      // not our JSON (a proxy's page): the status says enough
    }
    return `The server refused the upload (HTTP ${response.getStatus()}).`;
  }
  return (error && (error.details || error.message)) || "The upload failed.";
}

// Run options as Upload-Metadata values: text, lists comma-separated.
function metadataOf(options) {
  const meta = {};
  Object.entries(options || {}).forEach(([name, value]) => {
    if (value === undefined || value === null || value === "") return;
    meta[name] = Array.isArray(value) ? value.join(",") : String(value);
  });
  return meta;
}

export class UploadQueue {
  // list: the <ul> of rows; total: a <progress> for all files; chunkSize: () => bytes per PATCH, read when
  // uploads start; csrfToken: () => the session's token; say(text, isError): the panel's status line;
  // onVideo(videoId, file): a file became a video.
  constructor({ list, total, endpoint, chunkSize, csrfToken, say, onVideo, dropTarget = document.body }) {
    this.list = list;
    this.chunkSize = chunkSize;
    this.total = total;
    this.say = say;
    this.onVideo = onVideo || (() => {});
    this.rows = new Map();
    this.videoIds = new Map(); // upload URL -> the video the server made of it
    // Uppy logs each failure as a console error; the row already shows it, so the console gets a warning.
    const logger = { debug: () => {}, warn: (...args) => console.warn(...args), error: (...args) => console.warn(...args) };
    this.uppy = new Uppy({ autoProceed: false, allowMultipleUploadBatches: true, logger });
    this.uppy.use(Tus, {
      endpoint,
      headers: () => ({ "X-CSRFToken": csrfToken() }),
      retryDelays: [0, 1000, 3000, 5000, 10000],
      // Every field a file's meta holds (Uppy's own, the title, the run options set): a named list would
      // send the absent ones as "undefined". The server reads only the fields it knows.
      allowedMetaFields: true,
      removeFingerprintOnSuccess: true,
      onAfterResponse: (request, response) => {
        const videoId = response.getHeader("Video-Id");
        if (videoId) this.videoIds.set(new URL(request.getURL(), window.location.href).pathname, videoId);
      },
    });
    this.uppy.use(DropTarget, { target: dropTarget });
    this.bind();
    this.discoverLimits(endpoint);
  }

  // The server's largest upload (Tus-Max-Size): a bigger file is refused here, before any byte is sent.
  discoverLimits(endpoint) {
    fetch(endpoint, { method: "OPTIONS", credentials: "same-origin" })
      .then((response) => {
        const maxSize = Number(response.headers.get("Tus-Max-Size"));
        if (maxSize > 0) this.uppy.setOptions({ restrictions: { maxFileSize: maxSize } });
      })
      .catch(() => {}); // the server checks the size anyway
  }

  add(files) {
    Array.from(files).forEach((file) => {
      try {
        this.uppy.addFile({ name: file.name, type: file.type, data: file, source: "picker" });
      } catch (error) {
        this.say(`${file.name}: ${error.message}`, true); // a restriction (size) or a file already queued
      }
    });
  }

  hasWaiting() {
    return this.uppy.getFiles().some((file) => !file.progress.uploadStarted);
  }

  // Sends every file not yet sent, with the run options; the title goes to a file sent alone.
  start({ title, runOptions }) {
    const waiting = this.uppy.getFiles().filter((file) => !file.progress.uploadStarted);
    const meta = metadataOf(runOptions);
    waiting.forEach((file) => {
      this.uppy.setFileMeta(file.id, { ...meta, filename: file.name, ...(waiting.length === 1 && title ? { title } : {}) });
    });
    this.total.hidden = false;
    this.uppy.getPlugin("Tus").setOptions({ chunkSize: this.chunkSize() || Number.POSITIVE_INFINITY });
    return this.uppy.upload();
  }

  bind() {
    const { uppy } = this;
    uppy.on("file-added", (file) => this.renderRow(file));
    uppy.on("file-removed", (file) => this.removed(file));
    uppy.on("upload", (_id, files) => (files || []).forEach((file) => this.setState(file.id, "uploading", "Uploading")));
    uppy.on("upload-progress", (file, progress) => this.progress(file, progress));
    uppy.on("progress", (percent) => { this.total.value = percent; });
    uppy.on("upload-success", (file, response) => this.succeeded(file, response));
    uppy.on("upload-error", (file, error) => this.failed(file, error));
    uppy.on("restriction-failed", (file, error) => this.say(`${file ? file.name + ": " : ""}${error.message}`, true));
    // Uppy follows the browser's online state: offline, its Tus plugin holds the uploads, and when the
    // connection is back each goes on from the offset the server holds (a HEAD, then PATCH from there).
    uppy.on("is-offline", () => {
      this.rows.forEach((row, fileId) => {
        if (row.item.dataset.state === "uploading") this.setState(fileId, "offline", "Connection lost: waiting to resume");
      });
      this.say("The connection dropped: the uploads resume when it is back.", true);
    });
    uppy.on("back-online", () => {
      this.rows.forEach((row, fileId) => {
        if (row.item.dataset.state !== "offline" || !uppy.getFile(fileId)) return;
        this.setState(fileId, "uploading", "Resuming");
        if (uppy.getFile(fileId).error) uppy.retryUpload(fileId); // one that gave up while offline
      });
      this.say("Back online: the uploads go on from where they stopped.");
    });
  }

  renderRow(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    item.dataset.fileId = file.id;
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.className = "progress";
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload of ${file.name}`);
    const figures = document.createElement("span");
    figures.className = "upload-figures small";
    figures.textContent = formatBytes(file.size || 0);
    const state = document.createElement("span");
    state.className = "upload-state small";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "upload-cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `Cancel ${file.name}`);
    cancel.addEventListener("click", () => {
      this.say(`Cancelled ${file.name}.`);
      this.uppy.removeFile(file.id); // the Tus plugin aborts it and deletes what the server holds
    });
    item.append(name, bar, figures, state, cancel);
    this.list.append(item);
    this.rows.set(file.id, { item, bar, figures, state, cancel, samples: [] });
    this.setState(file.id, "ready", "Ready");
  }

  setState(fileId, state, text) {
    const row = this.rows.get(fileId);
    if (!row) return;
    row.item.dataset.state = state;
    row.state.textContent = text;
    row.state.classList.toggle("error", state === "failed" || state === "offline");
    row.cancel.hidden = state === "done" || state === "failed";
  }

  progress(file, { bytesUploaded, bytesTotal }) {
    const row = this.rows.get(file.id);
    if (!row || !bytesTotal) return;
    const now = performance.now();
    row.samples.push([now, bytesUploaded]);
    while (row.samples.length > 2 && now - row.samples[0][0] > SPEED_WINDOW_MS) row.samples.shift();
    const [firstTime, firstBytes] = row.samples[0];
    const seconds = (now - firstTime) / 1000;
    const speed = seconds > 0.2 ? (bytesUploaded - firstBytes) / seconds : 0;
    const percent = (100 * bytesUploaded) / bytesTotal;
    row.bar.value = percent;
    const parts = [`${Math.floor(percent)}%`, `${formatBytes(bytesUploaded)} of ${formatBytes(bytesTotal)}`];
    if (speed > 0) parts.push(`${formatBytes(speed)}/s`, `${formatDuration((bytesTotal - bytesUploaded) / speed)} left`);
    row.figures.textContent = parts.join(" · ");
    if (row.item.dataset.state !== "uploading" && navigator.onLine) this.setState(file.id, "uploading", "Uploading");
  }

  succeeded(file, response) {
    const row = this.rows.get(file.id);
    const url = response && response.uploadURL ? new URL(response.uploadURL, window.location.href).pathname : "";
    const videoId = this.videoIds.get(url);
    if (row) {
      row.bar.value = 100;
      row.figures.textContent = `100% · ${formatBytes(file.size || 0)}`;
      this.setState(file.id, "done", "Uploaded: processing has been queued");
      if (videoId) {
        const link = document.createElement("a");
        link.href = `/videos/${videoId}/`;
        link.textContent = "Open";
        link.setAttribute("aria-label", `Open ${file.name}`);
        row.state.append(" ", link);
      }
      row.finished = true;
    }
    this.say(`Uploaded “${file.meta.title || file.name}”: processing has been queued.`);
    if (videoId) this.onVideo(videoId, file);
    // The row stays; the file leaves Uppy so it may be queued again. After this event: removed during it,
    // the Tus plugin would still hold the finished upload and terminate it (DELETE) on the server.
    setTimeout(() => this.uppy.removeFile(file.id), 0);
  }

  failed(file, error) {
    if (!file) return;
    if (!navigator.onLine) {
      this.setState(file.id, "offline", "Connection lost: waiting to resume");
      this.say("The connection dropped: the uploads resume when it is back.", true);
      return;
    }
    const message = errorMessage(error);
    this.setState(file.id, "failed", message);
    this.rows.get(file.id).finished = true;
    this.say(`${file.name}: ${message}`, true);
    setTimeout(() => this.uppy.removeFile(file.id), 0);
  }

  removed(file) {
    const row = this.rows.get(file.id);
    if (!row) return;
    this.rows.delete(file.id);
    if (!row.finished) row.item.remove(); // cancelled: its row goes; finished rows stay as a record
    if (!this.uppy.getFiles().length) this.total.hidden = true;
  }
}
