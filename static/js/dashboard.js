// Dashboard: upload with a transfer progress bar, and live state from the /ws/videos/ socket
// (with replay on reconnect, and polling of the API while the socket is down).
(function () {
  "use strict";

  const rows = document.getElementById("video-rows");
  const liveBadge = document.getElementById("live-status");
  const lastSeq = new Map();

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function rowFor(videoId, title) {
    let row = rows.querySelector(`tr[data-video-id="${videoId}"]`);
    if (row) return row;
    const empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
    row = document.createElement("tr");
    row.dataset.videoId = videoId;
    row.innerHTML =
      '<td class="title"><a class="name"></a><div class="error-text"></div></td>' +
      '<td><span class="badge"></span> <span class="stage"></span></td>' +
      '<td><div class="progress"><div class="bar"></div></div><span class="pct">0%</span></td>' +
      '<td class="speed"></td><td class="eta"></td><td class="objects">0</td>';
    row.querySelector(".name").textContent = title || videoId;
    row.querySelector(".name").href = `/videos/${videoId}/`;
    rows.prepend(row);
    return row;
  }

  function setState(row, state, stage) {
    const badge = row.querySelector(".badge");
    badge.className = "badge state-" + state;
    badge.textContent = state;
    row.querySelector(".stage").textContent = stage || "";
  }

  function setProgress(row, pct) {
    const value = Math.max(0, Math.min(100, Number(pct) || 0));
    row.querySelector(".progress .bar").style.width = value + "%";
    row.querySelector(".pct").textContent = Math.floor(value) + "%";
  }

  function formatEta(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
    return seconds < 60 ? seconds + " s" : Math.round(seconds / 60) + " min";
  }

  // Live updates. The contract (README, "Live events"): every event of a video
  // carries a gap-free seq; we keep the last one per video, drop duplicates,
  // accept a jump only when the event says the skipped seqs were coalesced
  // progress ticks, and otherwise ask the server to replay from our last seq.
  // Rows rendered by the server start from the seq they were rendered at.
  rows.querySelectorAll("tr[data-video-id][data-last-seq]").forEach((row) => {
    lastSeq.set(row.dataset.videoId, Number(row.dataset.lastSeq) || 0);
  });

  let socket = null;
  let resumeInFlight = false;

  const RESUME_MAX_VIDEOS = 200; // the server's limit per resume
  function lastSeqMap() {
    const positions = {};
    let count = 0;
    lastSeq.forEach((seq, videoId) => {
      if (count++ < RESUME_MAX_VIDEOS) positions[videoId] = seq;
    });
    return positions;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function requestResume() {
    if (resumeInFlight) return;
    resumeInFlight = true;
    send({ type: "resume", last_seq: lastSeqMap() });
  }

  function isNext(event) {
    const known = lastSeq.get(event.video_id);
    if (known === undefined) return true; // a video we have not seen yet: start from here
    if (event.event_type === "snapshot") return true;
    const from = event.coalesced_from_seq;
    return event.seq === known + 1 || (typeof from === "number" && from <= known + 1);
  }

  function applyEvent(event) {
    if (!event.video_id || typeof event.seq !== "number") return;
    if ((lastSeq.get(event.video_id) || 0) >= event.seq) return; // already have it
    if (!isNext(event)) {
      requestResume(); // an event was lost on the way: the server replays it from its table
      return;
    }
    lastSeq.set(event.video_id, event.seq);
    const data = event.data || {};
    const row = rowFor(event.video_id, data.title || data.filename);
    if (event.event_type === "snapshot" && data.title) row.querySelector(".name").textContent = data.title;
    setState(row, event.state, event.state === "completed" ? "" : data.stage);
    if (data.progress_percentage !== undefined) setProgress(row, data.progress_percentage);
    if (data.processing_speed !== undefined && data.processing_speed !== null) {
      row.querySelector(".speed").textContent = Number(data.processing_speed).toFixed(1);
    }
    row.querySelector(".eta").textContent = event.state === "processing" ? formatEta(data.estimated_completion) : "";
    if (data.objects_detected !== undefined) row.querySelector(".objects").textContent = data.objects_detected;
    row.querySelector(".error-text").textContent = event.state === "failed" ? data.error_message || "" : "";
    if (event.event_type !== "processing_progress") scheduleStats(500);
  }

  // The figures of the last 24 hours: fetched again after state changes (not every progress tick).
  const stats = document.getElementById("stats");
  let statsTimer = null;
  function refreshStats() {
    statsTimer = null;
    if (!stats) return;
    fetch("/api/v1/stats/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((figures) => {
        stats.querySelector('[data-stat="total_videos"]').textContent = figures.total_videos;
        stats.querySelector('[data-stat="total_objects_detected"]').textContent = figures.total_objects_detected;
        const avg = figures.avg_processing_time_seconds;
        stats.querySelector('[data-stat="avg_processing_time_seconds"]').textContent =
          avg === null || avg === undefined ? "–" : `${Number(avg).toFixed(1)} s`;
        Object.entries(figures.videos_per_state || {}).forEach(([state, count]) => {
          const cell = stats.querySelector(`[data-state="${state}"]`);
          if (cell) cell.textContent = count;
        });
      })
      .catch(() => { /* keep the figures shown; the next change tries again */ });
  }
  function scheduleStats(delay) {
    if (statsTimer === null) statsTimer = setTimeout(refreshStats, delay);
  }
  setInterval(() => scheduleStats(0), 60000);

  function handleMessage(message) {
    if (message.type === "resumed" || message.type === "error") {
      resumeInFlight = false;
      return;
    }
    if (message.type === "pong" || message.event_type === "subscribed") return;
    applyEvent(message);
  }

  // While the socket is down the list API keeps the table roughly current; the
  // replay on reconnect then fills in every event in order.
  const POLL_MS = 5000;
  let pollTimer = null;

  function applyPolled(video) {
    const row = rowFor(video.id, video.title || video.original_filename);
    setState(row, video.state, video.state === "completed" ? "" : video.current_stage);
    setProgress(row, video.progress_percentage);
    row.querySelector(".objects").textContent = video.objects_detected_count;
  }

  function poll() {
    fetch("/api/v1/videos/?per_page=100", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((page) => {
        (page.results || []).slice().reverse().forEach(applyPolled);
        scheduleStats(0);
      })
      .catch(() => { /* the server is down too: keep trying */ });
  }

  function startPolling() {
    if (pollTimer === null) pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  // A ping that carries our positions also repairs a loss no later event would reveal.
  const PING_MS = 20000;
  setInterval(() => send({ type: "ping", last_seq: lastSeqMap() }), PING_MS);

  let retryDelay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/videos/`);
    socket.onopen = () => {
      retryDelay = 500;
      stopPolling();
      liveBadge.className = "live on";
      liveBadge.textContent = "live";
      resumeInFlight = false;
      if (lastSeq.size) requestResume();
    };
    socket.onmessage = (message) => {
      try {
        handleMessage(JSON.parse(message.data));
      } catch (_) { /* not JSON: ignore */ }
    };
    socket.onclose = () => {
      socket = null;
      liveBadge.className = "live off";
      liveBadge.textContent = "offline: polling";
      startPolling();
      // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
      setTimeout(connect, retryDelay * (0.5 + Math.random()));
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  // ---- Upload: drag and drop or pick; small files in one request with XHR progress, large ones in
  // resumable chunks (README, "Resumable uploads") that survive a dropped connection; or import a URL.
  const form = document.getElementById("upload-form");
  const fileInput = document.getElementById("upload-file");
  const dropZone = document.getElementById("drop-zone");
  const progress = document.getElementById("upload-progress");
  const message = document.getElementById("upload-message");
  const KIB = 1024;

  function say(text, isError) {
    message.className = isError ? "message error" : "message";
    message.textContent = text;
  }

  function showProgress(fraction) {
    progress.hidden = false;
    const pct = Math.max(0, Math.min(100, 100 * fraction));
    progress.querySelector(".bar").style.width = pct + "%";
    progress.setAttribute("aria-valuenow", String(Math.floor(pct)));
  }

  function created(payload) {
    progress.hidden = true;
    say(`Uploaded “${payload.title}”: processing has been queued.`);
    const row = rowFor(payload.id, payload.title);
    if (!lastSeq.has(payload.id)) setState(row, payload.state, payload.current_stage);
    form.reset();
    dropZone.querySelector(".picked").textContent = "";
    scheduleStats(500);
  }

  function failed(status, payload, fallback) {
    progress.hidden = true;
    say((payload && payload.error && payload.error.message) || fallback || `Upload failed (HTTP ${status}).`, true);
  }

  function parse(text) {
    try { return JSON.parse(text); } catch (_) { return {}; }
  }

  function uploadWhole(file) {
    const body = new FormData(form);
    body.delete("source_url");
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/videos/");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.upload.onprogress = (e) => { if (e.lengthComputable) showProgress(e.loaded / e.total); };
    request.onload = () => {
      const payload = parse(request.responseText);
      if (request.status === 201) created(payload); else failed(request.status, payload);
    };
    request.onerror = () => failed(0, null, "The connection dropped during the upload; please try again.");
    showProgress(0);
    say("Uploading…");
    request.send(body);
  }

  // Sends [offset, end) with XHR, reporting bytes as they go; resolves with the request.
  function sendChunk(url, file, offset, end, onBytes) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("PATCH", url);
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.setRequestHeader("Content-Type", "application/offset+octet-stream");
      request.setRequestHeader("Upload-Offset", String(offset));
      request.upload.onprogress = (e) => onBytes(offset + e.loaded);
      request.onload = () => resolve(request);
      request.onerror = () => reject(new Error("network"));
      request.onabort = () => reject(new Error("network"));
      request.send(file.slice(offset, end));
    });
  }

  function currentOffset(url) {
    return fetch(url, { method: "HEAD", credentials: "same-origin", cache: "no-store" }).then((response) => {
      if (!response.ok) throw Object.assign(new Error("gone"), { status: response.status });
      return Number(response.headers.get("Upload-Offset"));
    });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // A session is remembered per file, so picking the same file again after a reload resumes it.
  const storeKey = (file) => `mp-upload:${file.name}:${file.size}:${file.lastModified}`;

  async function uploadChunked(file) {
    const chunkSize = Number(form.dataset.chunkSize) || 4 * KIB * KIB;
    const title = document.getElementById("upload-title").value;
    const frameStep = Number(document.getElementById("upload-step").value) || 1;
    let url = localStorage.getItem(storeKey(file));
    let offset = 0;
    showProgress(0);
    say("Uploading in chunks…");
    if (url) {
      try { offset = await currentOffset(url); } catch (_) { url = null; }
    }
    if (!url) {
      const response = await fetch("/api/v1/uploads/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ filename: file.name, size: file.size, title, frame_step: frameStep }),
      });
      const payload = await response.json().catch(() => ({}));
      if (response.status !== 201) return failed(response.status, payload);
      url = new URL(payload.url).pathname;
      offset = 0;
      localStorage.setItem(storeKey(file), url);
    }
    let delay = 500;
    while (offset < file.size) {
      let request;
      try {
        request = await sendChunk(url, file, offset, Math.min(offset + chunkSize, file.size), (sent) =>
          showProgress(sent / file.size)
        );
      } catch (_) {
        // The connection dropped: wait, ask the server how much it has, and go on from there.
        say("Connection lost; resuming the upload…", true);
        await sleep(delay);
        delay = Math.min(delay * 2, 15000);
        try { offset = await currentOffset(url); } catch (error) {
          if (error.status === 404) { localStorage.removeItem(storeKey(file)); return failed(404, null, "The upload expired; please start again."); }
        }
        continue;
      }
      delay = 500;
      const payload = parse(request.responseText);
      if (request.status === 204) {
        offset = Number(request.getResponseHeader("Upload-Offset"));
        showProgress(offset / file.size);
        say("Uploading in chunks…");
      } else if (request.status === 201) {
        localStorage.removeItem(storeKey(file));
        showProgress(1);
        return created(payload);
      } else if (request.status === 409 && payload.error && payload.error.details) {
        offset = Number(payload.error.details.offset);
      } else {
        localStorage.removeItem(storeKey(file));
        return failed(request.status, payload);
      }
    }
    return undefined;
  }

  function importUrl(sourceUrl) {
    say("Importing…");
    fetch("/api/v1/videos/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        source_url: sourceUrl,
        title: document.getElementById("upload-title").value,
        frame_step: Number(document.getElementById("upload-step").value) || 1,
      }),
    })
      .then((response) => response.json().catch(() => ({})).then((payload) => [response.status, payload]))
      .then(([status, payload]) => (status === 201 ? created(payload) : failed(status, payload)))
      .catch(() => failed(0, null, "The server could not be reached; please try again."));
  }

  function pickedName() {
    const file = fileInput.files[0];
    dropZone.querySelector(".picked").textContent = file ? `${file.name} (${(file.size / KIB / KIB).toFixed(1)} MiB)` : "";
  }
  fileInput.addEventListener("change", pickedName);
  ["dragenter", "dragover"].forEach((name) => dropZone.addEventListener(name, (e) => {
    e.preventDefault();
    dropZone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => dropZone.addEventListener(name, () => dropZone.classList.remove("over")));
  dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) {
      fileInput.files = e.dataTransfer.files;
      pickedName();
    }
  });

  form.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    const file = fileInput.files[0];
    const sourceUrl = document.getElementById("upload-url").value.trim();
    if (file && sourceUrl) return say("Choose a file or give a URL, not both.", true);
    if (sourceUrl) return importUrl(sourceUrl);
    if (!file) return say("Choose a video file, drop one here, or give a URL.", true);
    const threshold = Number(form.dataset.chunkThreshold);
    if (file.size > (Number.isFinite(threshold) ? threshold : 8 * KIB * KIB)) {
      uploadChunked(file).catch(() => failed(0, null, "The upload stopped; pick the file again to resume."));
    } else {
      uploadWhole(file);
    }
    return undefined;
  });

  connect();
})();
