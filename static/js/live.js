// What the dashboard and the video page share: following live events over /ws/videos/ (all of the
// user's videos) or /ws/videos/<id>/ (one video) under the README's "Live events" contract, and the
// small helpers both pages need to talk to the API and show a video's state. Loaded before either
// page's script (plain script, no bundler) and used through window.MediaPlatformLive.
(function () {
  "use strict";

  const POLL_MS = 5000; // while the socket is down, the page polls the API this often
  const PING_MS = 20000;
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 15000;
  const RESUME_MAX_VIDEOS = 200; // the server's limit per resume

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // An answer's body as JSON, {} when empty or not JSON (a proxy's error page, say).
  function parseJson(text) {
    try {
      return text ? JSON.parse(text) : {};
    } catch (_) {
      return {};
    }
  }

  // Resolves with { status, ok, payload } whatever the status; rejects only when the server cannot be reached.
  function requestJson(method, url, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then((response) =>
      response.text().then((text) => ({ status: response.status, ok: response.ok, payload: parseJson(text) }))
    );
  }

  // "" when there is no estimate.
  function formatEta(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, Math.round((new Date(iso) - Date.now()) / 1000));
    return seconds < 60 ? seconds + " s" : Math.round(seconds / 60) + " min";
  }

  function showState(badge, state) {
    badge.className = "badge state-" + state;
    badge.textContent = state;
  }

  // Sets a <progress max="100"> to a percentage clamped to 0-100 and returns the value it shows.
  function showProgress(progress, percentage) {
    const value = Math.max(0, Math.min(100, Number(percentage) || 0));
    progress.value = value;
    return value;
  }

  function showMessage(element, text, isError) {
    element.className = isError ? "message error" : "message";
    element.textContent = text;
  }

  // ---- Following live events --------------------------------------------------------------------
  // Every event of a video carries a gap-free seq. `positions` (video id -> last applied seq, seeded
  // with the seq the page was rendered at) drops duplicates, accepts a jump only when the event says
  // the skipped seqs were coalesced progress ticks, and otherwise asks the server to replay from the
  // last applied seq. While the socket is down, page.poll keeps the page roughly current; the replay
  // on reconnect then fills in every event in order.
  //
  // `route` is what differs between the two sockets: socketPath(), the position sent in resume and
  // ping messages, whether to resume on open, whether events of videos not yet in `positions` are
  // followed from the first one seen, and whether a refused socket (4401, 4404) is tried again.
  function follow(positions, page, route) {
    let socket = null;
    let resumeInFlight = false;
    let pollTimer = null;
    let retryDelay = FIRST_RETRY_MS;

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    }

    function requestResume() {
      if (resumeInFlight) return;
      resumeInFlight = true;
      send({ type: "resume", last_seq: route.position() });
    }

    function continuesSequence(event, known) {
      if (event.event_type === "snapshot") return true; // it stands for every seq up to its own
      const from = event.coalesced_from_seq;
      return event.seq === known + 1 || (typeof from === "number" && from <= known + 1);
    }

    function receive(event) {
      if (!event.video_id || typeof event.seq !== "number") return;
      const known = positions.get(event.video_id);
      if (known === undefined && !route.followsNewVideos) return;
      if ((known || 0) >= event.seq) return; // already applied: the same event may arrive twice
      if (known !== undefined && !continuesSequence(event, known)) {
        requestResume(); // an event was lost on the way: the server replays it from its table
        return;
      }
      positions.set(event.video_id, event.seq);
      page.onEvent(event);
    }

    function handleMessage(message) {
      if (message.type === "resumed" || message.type === "error") {
        resumeInFlight = false;
        return;
      }
      if (message.type === "pong" || message.event_type === "subscribed") return;
      receive(message);
    }

    // The badge stays hidden until the socket first opens or fails, so a page load never flashes "offline".
    function showLive(live) {
      page.badge.hidden = false;
      page.badge.className = live ? "live on" : "live off lost";
      page.badge.textContent = live ? "live" : "offline: polling";
    }

    function startPolling() {
      if (pollTimer === null) pollTimer = setInterval(page.poll, POLL_MS);
    }

    function stopPolling() {
      if (pollTimer !== null) clearInterval(pollTimer);
      pollTimer = null;
    }

    function connect() {
      // The session cookie authenticates the socket: no credential ever goes in the URL, which access logs
      // keep (the server refuses `?token=`). A 4401 close also comes when the session ends or the password
      // changes; the dashboard then keeps trying, so signing in again in another tab resumes it.
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}${route.socketPath()}`);
      socket.onopen = () => {
        retryDelay = FIRST_RETRY_MS;
        stopPolling();
        showLive(true);
        resumeInFlight = false;
        if (route.resumesOnOpen && positions.size) requestResume();
      };
      socket.onmessage = (message) => {
        try {
          handleMessage(JSON.parse(message.data));
        } catch (_) { /* not JSON: ignore */ }
      };
      socket.onclose = (closeEvent) => {
        socket = null;
        showLive(false);
        const refused = closeEvent.code >= 4400 && closeEvent.code < 4500;
        if (refused && !route.retriesWhenRefused) return;
        startPolling();
        // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
        setTimeout(connect, retryDelay * (0.5 + Math.random()));
        retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
      };
    }

    page.badge.hidden = true; // until the first open or loss: see showLive
    // A ping that carries the positions also repairs a loss no later event would reveal.
    setInterval(() => send({ type: "ping", last_seq: route.position() }), PING_MS);
    connect();
  }

  // One video's events over /ws/videos/<id>/. `page`: { badge, onEvent(event), poll() }.
  function followVideo(videoId, lastSeq, page) {
    const positions = new Map([[videoId, lastSeq]]);
    follow(positions, page, {
      // The position rides on the URL, so the server replays what was missed before anything live.
      socketPath: () => `/ws/videos/${videoId}/?last_seq=${positions.get(videoId)}`,
      position: () => positions.get(videoId),
      resumesOnOpen: false,
      followsNewVideos: false,
      // Refused because the video is gone or not the user's, or the user signed out: retrying cannot help.
      retriesWhenRefused: false,
    });
  }

  // The events of all the user's videos over /ws/videos/. `lastSeq` (video id -> seq) is kept up to
  // date here, and gains the videos that start after the page was rendered (an upload in another tab).
  // `page.ownOnly` keeps a staff member's socket to their own videos (otherwise it carries everyone's).
  function followVideos(lastSeq, page) {
    follow(lastSeq, page, {
      socketPath: () => (page.ownOnly ? "/ws/videos/?scope=own" : "/ws/videos/"),
      position: () => {
        const positions = {};
        let count = 0;
        lastSeq.forEach((seq, videoId) => {
          if (count++ < RESUME_MAX_VIDEOS) positions[videoId] = seq;
        });
        return positions;
      },
      resumesOnOpen: true,
      followsNewVideos: true,
      // Only refused for a lost session (4401), which signing in again in another tab restores.
      retriesWhenRefused: true,
    });
  }

  window.MediaPlatformLive = Object.freeze({
    csrfToken,
    parseJson,
    requestJson,
    formatEta,
    showState,
    showProgress,
    showMessage,
    followVideo,
    followVideos,
  });
})();
