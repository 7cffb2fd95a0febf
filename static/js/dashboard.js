// Dashboard: live state from the /ws/videos/ socket (the upload panel is static/js/upload_panel.js)
// (static/js/live.js: replay on reconnect, and polling of the API while the socket is down).
(function () {
  "use strict";

  const {
    csrfToken, parseJson, requestJson, formatEta, showState, showProgress, showMessage, followVideos,
  } = window.MediaPlatformLive;
  const rows = document.getElementById("video-rows");
  const liveBadge = document.getElementById("live-status");
  const lastSeq = new Map();

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
      '<td><progress class="progress" max="100" value="0"></progress><span class="pct">0%</span></td>' +
      '<td class="speed"></td><td class="eta"></td><td class="objects">0</td>';
    row.querySelector(".name").textContent = title || videoId;
    row.querySelector(".name").href = `/videos/${videoId}/`;
    rows.prepend(row);
    return row;
  }

  // A cancel fails the video (the state machine has no cancelled state), but it reads as cancelled.
  function setState(row, state, stage, cancelled) {
    showState(row.querySelector(".badge"), state === "failed" && cancelled ? "cancelled" : state);
    row.querySelector(".stage").textContent = stage || "";
  }

  function isCancelEvent(event) {
    return event.event_type === "processing_cancelled" || (event.data || {}).error_code === "cancelled";
  }

  function setProgress(row, pct) {
    const value = showProgress(row.querySelector("progress"), pct);
    row.querySelector(".pct").textContent = Math.floor(value) + "%";
  }

  // Rows rendered by the server follow on from the seq they were rendered at.
  rows.querySelectorAll("tr[data-video-id][data-last-seq]").forEach((row) => {
    lastSeq.set(row.dataset.videoId, Number(row.dataset.lastSeq) || 0);
  });

  // An event live.js has put in sequence: the row shows where its video is now.
  function applyEvent(event) {
    const data = event.data || {};
    const row = rowFor(event.video_id, data.title || data.filename);
    if (event.event_type === "snapshot" && data.title) row.querySelector(".name").textContent = data.title;
    setState(row, event.state, event.state === "completed" ? "" : data.stage, isCancelEvent(event));
    if (data.progress_percentage !== undefined) setProgress(row, data.progress_percentage);
    if (data.processing_speed !== undefined && data.processing_speed !== null) {
      row.querySelector(".speed").textContent = Number(data.processing_speed).toFixed(1);
    }
    row.querySelector(".eta").textContent = event.state === "processing" ? formatEta(data.estimated_completion) : "";
    if (data.objects_detected !== undefined) row.querySelector(".objects").textContent = data.objects_detected;
    const failure = event.state === "failed" && !isCancelEvent(event) ? data.error_message || "" : "";
    row.querySelector(".error-text").textContent = failure;
    if (event.event_type !== "processing_progress") scheduleStats(500);
  }

  // The figures of the last 24 hours: fetched again after state changes (not every progress tick).
  const stats = document.getElementById("stats");
  let statsTimer = null;
  function refreshStats() {
    statsTimer = null;
    if (!stats) return;
    // When the API cannot answer, the figures shown stay; the next change tries again.
    requestJson("GET", "/api/v1/stats/")
      .then(({ ok, payload: figures }) => {
        if (!ok) return;
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
      .catch(() => {});
  }
  function scheduleStats(delay) {
    if (statsTimer === null) statsTimer = setTimeout(refreshStats, delay);
  }
  setInterval(() => scheduleStats(0), 60000);

  // While the socket is down the list API keeps the table roughly current.
  function applyPolled(video) {
    const row = rowFor(video.id, video.title || video.original_filename);
    setState(row, video.state, video.state === "completed" ? "" : video.current_stage, Boolean(video.cancelled_at));
    setProgress(row, video.progress_percentage);
    row.querySelector(".objects").textContent = video.objects_detected_count;
  }

  // The server may be down too: the next poll tries again.
  function poll() {
    requestJson("GET", "/api/v1/videos/?per_page=100")
      .then(({ ok, payload: page }) => {
        if (!ok) return;
        (page.results || []).slice().reverse().forEach(applyPolled);
        scheduleStats(0);
      })
      .catch(() => {});
  }

  followVideos(lastSeq, { badge: liveBadge, onEvent: applyEvent, poll });
})();
