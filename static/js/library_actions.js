// The dashboard library's actions: rename and delete one video, and archive, retry or delete the selected ones
// through POST /api/v1/videos/bulk/, which answers per video. Rows come from templates/_video_row.html.

const { requestJson, showState } = window.MediaPlatformLive;

const rows = document.getElementById("video-rows");
const selectAll = document.getElementById("select-all");
const bulkForm = document.getElementById("bulk-form");
const bulkCount = document.getElementById("bulk-count");
const results = document.getElementById("bulk-results");
const deleteDialog = document.getElementById("delete-dialog");

const PAST_TENSE = { archive: "archived", retry: "queued again", delete: "deleted" };

function videoName(row) {
  return row.querySelector(".name").textContent.trim() || row.dataset.videoId;
}

function picks() {
  return [...rows.querySelectorAll("tr[data-video-id] .pick")];
}

function picked() {
  return picks().filter((box) => box.checked);
}

function countPicked() {
  const all = picks();
  const chosen = picked().length;
  bulkCount.textContent = chosen ? `${chosen} of ${all.length} selected` : "None selected";
  selectAll.checked = all.length > 0 && chosen === all.length;
  selectAll.indeterminate = chosen > 0 && chosen < all.length;
}

// What happened, as a short list a screen reader announces (the region is role="status").
function report(lines, isError = false) {
  const list = document.createElement("ul");
  list.className = isError ? "error" : "";
  lines.forEach(({ text, ok }) => {
    const item = document.createElement("li");
    item.className = ok === true ? "done" : ok === false ? "refused" : "summary";
    item.textContent = text;
    list.appendChild(item);
  });
  results.replaceChildren(list);
}

function removeRow(row) {
  row.remove();
  countPicked();
}

function confirmDelete(text) {
  document.getElementById("delete-dialog-text").textContent = text;
  deleteDialog.returnValue = "";
  deleteDialog.showModal();
  return new Promise((resolve) => {
    deleteDialog.addEventListener("close", () => resolve(deleteDialog.returnValue === "delete"), { once: true });
  });
}

// ---- One video: delete (with confirmation) and rename in place -------------------------------------------
async function deleteOne(row) {
  const name = videoName(row);
  if (!(await confirmDelete(`“${name}”, its file and its results go; this cannot be undone.`))) return;
  const { status, payload } = await requestJson("DELETE", `/api/v1/videos/${row.dataset.videoId}/`);
  if (status === 204 || status === 410) {
    removeRow(row);
    report([{ ok: true, text: status === 204 ? `“${name}” deleted.` : `“${name}” was already deleted.` }]);
  } else {
    report([{ ok: false, text: `“${name}” was not deleted: ${(payload.error || {}).message || `HTTP ${status}`}` }], true);
  }
}

function startRename(row) {
  const cell = row.querySelector(".title");
  if (cell.querySelector("form.rename-form")) return;
  const link = cell.querySelector(".name");
  const form = document.createElement("form");
  form.className = "rename-form";
  const inputId = `rename-${row.dataset.videoId}`;
  const label = Object.assign(document.createElement("label"), { htmlFor: inputId, textContent: "New title" });
  label.className = "small";
  const input = Object.assign(document.createElement("input"), {
    id: inputId, type: "text", name: "title", value: link.textContent.trim(), maxLength: 255,
  });
  const save = Object.assign(document.createElement("button"), { type: "submit", textContent: "Save" });
  const keep = Object.assign(document.createElement("button"), { type: "button", textContent: "Cancel" });
  keep.className = "secondary";
  form.append(label, input, save, keep);
  link.hidden = true;
  link.after(form);
  input.focus();
  input.select();
  const finish = () => {
    form.remove();
    link.hidden = false;
    link.focus();
  };
  keep.addEventListener("click", finish);
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") finish(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { status, payload } = await requestJson("PATCH", `/api/v1/videos/${row.dataset.videoId}/`, { title: input.value });
    if (status === 200) {
      link.textContent = payload.title || payload.original_filename || input.value;
      report([{ ok: true, text: `Renamed to “${link.textContent}”.` }]);
      finish();
    } else if (status === 410) {
      report([{ ok: false, text: "This video was deleted meanwhile." }], true);
      removeRow(row);
    } else {
      report([{ ok: false, text: (payload.error || {}).message || `Not renamed (HTTP ${status}).` }], true);
    }
  });
}

rows.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  const row = event.target.closest("tr[data-video-id]");
  if (!button || !row) return;
  if (button.classList.contains("rename")) startRename(row);
  else if (button.classList.contains("delete")) deleteOne(row).catch(() => report([{ ok: false, text: "The server could not be reached." }], true));
});

// ---- Several videos ---------------------------------------------------------------------------------------
rows.addEventListener("change", (event) => { if (event.target.classList.contains("pick")) countPicked(); });
selectAll.addEventListener("change", () => {
  picks().forEach((box) => { box.checked = selectAll.checked; });
  countPicked();
});
document.addEventListener("library:row-added", countPicked);

function applyResult(action, row, result) {
  if (!result.ok) {
    if (result.status === 410) removeRow(row);
    return;
  }
  if (action === "delete") removeRow(row);
  else if (action === "archive") showState(row.querySelector(".badge"), "archived");
  row.querySelector(".pick").checked = false;
}

bulkForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const action = bulkForm.elements.action.value;
  const chosen = picked().map((box) => box.closest("tr[data-video-id]"));
  if (!chosen.length) {
    report([{ ok: false, text: "Select one or more videos first." }], true);
    return;
  }
  const howMany = `${chosen.length} video${chosen.length === 1 ? "" : "s"}`;
  if (action === "delete" && !(await confirmDelete(`${howMany}, with their files and results, go; this cannot be undone.`))) return;
  const byId = new Map(chosen.map((row) => [row.dataset.videoId, row]));
  let answer;
  try {
    answer = await requestJson("POST", "/api/v1/videos/bulk/", { action, ids: [...byId.keys()] });
  } catch (_) {
    report([{ ok: false, text: "The server could not be reached; nothing was changed." }], true);
    return;
  }
  if (!answer.ok) {
    report([{ ok: false, text: (answer.payload.error || {}).message || `Refused (HTTP ${answer.status}).` }], true);
    return;
  }
  const lines = answer.payload.results.map((result) => {
    const row = byId.get(result.id);
    const name = row ? videoName(row) : result.id;
    if (row) applyResult(action, row, result);
    return { ok: result.ok, text: result.ok ? `“${name}”: ${PAST_TENSE[action]}.` : `“${name}”: ${result.message}` };
  });
  const done = answer.payload.results.filter((result) => result.ok).length;
  lines.unshift({ ok: null, text: `${done} of ${howMany} ${PAST_TENSE[action]}.` });
  report(lines);
  countPicked();
});

countPicked();
