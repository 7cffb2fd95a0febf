// Dashboard: the library of videos with live state from the /ws/videos/ socket (static/js/live.js: replay on
// reconnect, and polling of the API while the socket is down) and the figures of the last 24 hours. The library's
// actions (rename, delete, bulk) are static/js/library_actions.js; the upload panel is static/js/upload_panel.js.
(function () {
  "use strict";

  const {
    csrfToken, parseJson, requestJson, formatEta, showState, showProgress, showMessage, followVideos,
  } = window.MediaPlatformLive;
  const library = document.getElementById("library");
  const rows = document.getElementById("video-rows");
  const rowTemplate = document.getElementById("video-row-template");
  const liveBadge = document.getElementById("live-status");
  const lastSeq = new Map();
  // Whose videos the list shows: "own", or "all" for a staff member who asked for everyone's.
  const scope = library.dataset.scope;
  // A video that starts after the page was rendered belongs at the top of the newest-first, unfiltered first
  // page; on any other page, order or filter its place is unknown, so it waits for the next load.
  const listsNewVideos =
    library.dataset.page === "1" && library.dataset.ordering === "-created_at" && !library.dataset.filtered;

  // "ground_truth" -> "Ground truth", as templates/_video_row.html shows stages.
  function stageLabel(stage) {
    const words = String(stage || "").replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  // videos/views_dashboard.py speed_label, for rows the page updates.
  function speedLabel(state, framesPerSecond) {
    if (framesPerSecond !== null && framesPerSecond !== undefined) return Number(framesPerSecond).toFixed(1);
    if (state === "processing") return "measuring…";
    if (state === "completed" || state === "failed" || state === "archived") return "not measured";
    return "not started";
  }

  function plural(count, one, many) {
    return `${count} ${Number(count) === 1 ? one : many}`;
  }

  function rowFor(videoId, title, details) {
    let row = rows.querySelector(`tr[data-video-id="${videoId}"]`);
    if (row) return row;
    if (!listsNewVideos) return null;
    const empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
    row = rowTemplate.content.querySelector("tr").cloneNode(true);
    row.dataset.videoId = videoId;
    const name = title || videoId;
    row.querySelector(".name").textContent = name;
    row.querySelector(".name").href = `/videos/${videoId}/`;
    row.querySelector(".pick").value = videoId;
    row.querySelector(".pick").setAttribute("aria-label", `Select ${name}`);
    row.querySelector("progress").setAttribute("aria-label", `Progress of ${name}`);
    const when = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    row.querySelector(".created").replaceChildren(Object.assign(document.createElement("time"), {
      dateTime: when.toISOString(),
      // As the server writes the date (templates/_video_row.html): 2026-01-31 09:05.
      textContent: `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
        `${pad(when.getHours())}:${pad(when.getMinutes())}`,
    }));
    const info = details || {};
    if (info.poster_url) {
      const image = Object.assign(document.createElement("img"), { src: info.poster_url, alt: "", width: 96, height: 54 });
      row.querySelector(".poster").replaceChildren(image);
    }
    // Events do not name the owner: everyone's list shows it from the next load.
    const owner = row.querySelector(".owner");
    if (owner) owner.textContent = info.owner || "–";
    rows.prepend(row);
    document.dispatchEvent(new CustomEvent("library:row-added", { detail: { row } }));
    document.getElementById("figures").hidden = false;
    return row;
  }

  // A cancel fails the video (the state machine has no cancelled state), but it reads as cancelled.
  function setState(row, state, stage, cancelled) {
    if (!row) return;
    row.dataset.state = state;
    showState(row.querySelector(".badge"), state === "failed" && cancelled ? "cancelled" : state);
    row.querySelector(".stage").textContent = state === "completed" ? "" : stageLabel(stage);
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
    if (event.event_type !== "processing_progress") scheduleStats(500);
    const row = rowFor(event.video_id, data.title || data.filename);
    if (!row) return;
    if (event.event_type === "snapshot" && data.title) row.querySelector(".name").textContent = data.title;
    const cancelled = isCancelEvent(event);
    setState(row, event.state, data.stage, cancelled);
    if (data.progress_percentage !== undefined) setProgress(row, data.progress_percentage);
    const speed = row.querySelector(".speed");
    const measured = data.processing_speed;
    if (measured !== undefined && measured !== null) speed.textContent = speedLabel(event.state, measured);
    else if (!/^[0-9]/.test(speed.textContent)) speed.textContent = speedLabel(event.state, null); // a measure stays
    row.querySelector(".eta").textContent = event.state === "processing" ? formatEta(data.estimated_completion) : "";
    if (data.objects_detected !== undefined) row.querySelector(".objects").textContent = data.objects_detected;
    const failure = event.state === "failed" && !cancelled ? data.error_message || "" : "";
    row.querySelector(".error-text").textContent = failure;
    if (cancelled) {
      const kept = data.detections_kept !== undefined ? data.detections_kept : row.querySelector(".objects").textContent;
      row.querySelector(".kept-text").textContent = `Kept ${plural(kept, "object", "objects")} found before the cancel`;
    }
  }

  // The figures of the last 24 hours (whose the page says: the user's, or everyone's): fetched again after
  // state changes (not every progress tick).
  const stats = document.getElementById("stats");
  let statsTimer = null;
  function refreshStats() {
    statsTimer = null;
    if (!stats) return;
    // When the API cannot answer, the figures shown stay; the next change tries again.
    requestJson("GET", `/api/v1/stats/?scope=${encodeURIComponent(stats.dataset.scope || "own")}`)
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

  // While the socket is down the list API keeps the rows roughly current.
  function applyPolled(video) {
    const row = rowFor(video.id, video.title || video.original_filename, video);
    if (!row) return;
    setState(row, video.state, video.current_stage, Boolean(video.cancelled_at));
    setProgress(row, video.progress_percentage);
    row.querySelector(".objects").textContent = video.objects_detected_count;
  }

  // The server may be down too: the next poll tries again. The list API gives the user's own videos.
  function poll() {
    requestJson("GET", "/api/v1/videos/?per_page=100")
      .then(({ ok, payload: page }) => {
        if (!ok) return;
        (page.results || []).slice().reverse().forEach(applyPolled);
        scheduleStats(0);
      })
      .catch(() => {});
  }

  // Staff follow every video unless they ask for their own; anyone else's socket carries only their own anyway.
  const ownOnly = library.dataset.staff === "1" && scope !== "all";
  followVideos(lastSeq, { badge: liveBadge, onEvent: applyEvent, poll, ownOnly });
})();
