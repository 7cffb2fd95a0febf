// The dashboard's upload panel (templates/_upload_panel.html): two tabs, files (the tus upload queue of
// static/js/upload_queue.js) and a URL import, sharing the title and the run options of the form.
import { UploadQueue } from "./upload_queue.js";

const form = document.getElementById("upload-form");
const message = document.getElementById("upload-message");
const fileInput = document.getElementById("upload-file");
const dropZone = document.getElementById("drop-zone");
const urlInput = document.getElementById("upload-url");
const titleInput = document.getElementById("upload-title");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function say(text, isError) {
  message.className = isError ? "message error" : "message";
  message.textContent = text;
}

// The run options' fieldset (static/js/run_options.js) gives them as the API names them.
function runOptions() {
  const fieldset = document.getElementById("upload-run-options");
  return fieldset && fieldset.runOptions ? fieldset.runOptions() : {};
}

function resetForm() {
  form.reset();
  // The class checkboxes follow the model select, which the reset put back on the default.
  form.querySelectorAll("[data-role=model]").forEach((select) => select.dispatchEvent(new Event("change")));
  dropZone.querySelector(".picked").textContent = "";
}

const queue = new UploadQueue({
  list: document.getElementById("upload-queue"),
  total: document.getElementById("upload-progress"),
  endpoint: form.dataset.tusEndpoint,
  // Chunks bound what a cut connection costs on links that buffer whole requests; nginx here streams them.
  chunkSize: () => Number(form.dataset.chunkSize),
  csrfToken,
  say,
});

// ---- Tabs (WAI-ARIA tabs pattern: arrow keys move between them, the panel follows the selected one).
const tabs = Array.from(form.querySelectorAll("[role=tab]"));
function selectTab(tab, focus) {
  tabs.forEach((other) => {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  });
  if (focus) tab.focus();
}
tabs.forEach((tab, index) => {
  tab.addEventListener("click", () => selectTab(tab, false));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    event.preventDefault();
    selectTab(tabs[(index + step + tabs.length) % tabs.length], true);
  });
});
const urlTabSelected = () => document.getElementById("upload-tab-url").getAttribute("aria-selected") === "true";

// ---- Files: picked with the input, or dropped anywhere on the page (Uppy's drop target is the body).
function showWaiting() {
  const waiting = document.querySelectorAll('#upload-queue li[data-state="ready"]').length;
  dropZone.querySelector(".picked").textContent = waiting ? `${waiting} file${waiting > 1 ? "s" : ""} ready to upload` : "";
}
fileInput.addEventListener("change", () => {
  queue.add(fileInput.files);
  fileInput.value = ""; // the queue holds them: picking the same file again after a cancel works
  showWaiting();
});
queue.uppy.on("file-added", () => {
  selectTab(tabs[0], false);
  showWaiting();
});
queue.uppy.on("file-removed", showWaiting);
queue.uppy.on("upload", () => setTimeout(showWaiting, 0)); // after the queue has marked its rows

// ---- URL import: the server fetches the video.
function importUrl(sourceUrl) {
  say("Importing…");
  fetch("/api/v1/videos/", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify({ source_url: sourceUrl, title: titleInput.value, ...runOptions() }),
  })
    .then((response) => response.json().catch(() => ({})).then((payload) => ({ status: response.status, payload })))
    .then(({ status, payload }) => {
      if (status === 201) {
        say(`Imported “${payload.title}”: processing has been queued.`);
        resetForm();
      } else {
        say((payload.error && payload.error.message) || `The import failed (HTTP ${status}).`, true);
      }
    })
    .catch(() => say("The server could not be reached; please try again.", true));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (urlTabSelected()) {
    const sourceUrl = urlInput.value.trim();
    if (!sourceUrl) return say("Give the URL of a video to import.", true);
    return importUrl(sourceUrl);
  }
  if (!queue.hasWaiting()) return say("Choose video files, or drop them anywhere on this page.", true);
  say("Uploading…");
  queue.start({ title: titleInput.value.trim(), runOptions: runOptions() }).then(() => {
    if (!queue.hasWaiting()) titleInput.value = "";
  });
  return undefined;
});
