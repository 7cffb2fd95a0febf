// Staff's banner of open platform alerts: the snapshot /ws/alerts/ sends on connect, then each alert as it
// opens, escalates or resolves. A resolved alert stays listed briefly so the change is seen, then leaves; the banner
// hides when nothing is open. Reconnects with backoff when the socket drops.

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
const RESOLVED_SHOWN_MS = 60000;
const PING_MS = 25000;

const section = document.getElementById("platform-alerts");
const list = section ? section.querySelector(".alerts-list") : null;
const alerts = new Map(); // alert id -> alert, as the server describes it

function figure(alert, value) {
  if (alert.check === "failed_rate" || alert.check === "error_rate") return `${(value * 100).toFixed(1)}%`;
  if (alert.check === "queue_backlog") return `${Math.round(value)} tasks`;
  return `${Math.round(value)} s`;
}

function describe(alert) {
  const item = document.createElement("li");
  item.dataset.alertId = String(alert.id);
  item.dataset.check = alert.check;
  const badge = document.createElement("span");
  const label = alert.status === "resolved" ? "resolved" : alert.severity;
  badge.className = `alert-severity ${label}`;
  badge.textContent = label;
  item.append(badge);
  const span = alert.window_seconds ? `, window ${alert.window_seconds} s` : "";
  let text = `${alert.title}: ${figure(alert, alert.last_value)} (threshold ${figure(alert, alert.threshold)}${span})`;
  if (alert.status === "resolved") {
    item.classList.add("alert-resolved");
    text = `${text}, was ${alert.severity}`;
  }
  item.append(document.createTextNode(text));
  return item;
}

function render() {
  const shown = [...alerts.values()].sort((a, b) => a.opened_at.localeCompare(b.opened_at));
  list.replaceChildren(...shown.map(describe));
  if (shown.length) {
    const link = document.createElement("li");
    const anchor = document.createElement("a");
    anchor.href = section.dataset.adminUrl;
    anchor.textContent = "All alerts in the admin";
    link.append(anchor);
    list.append(link);
  }
  section.hidden = shown.length === 0;
}

function take(message) {
  if (message.event_type === "subscribed") {
    alerts.clear();
    for (const alert of message.alerts) alerts.set(alert.id, alert);
  } else if (message.event_type === "alert_opened" || message.event_type === "alert_escalated") {
    alerts.set(message.alert.id, message.alert);
  } else if (message.event_type === "alert_resolved") {
    alerts.set(message.alert.id, message.alert);
    setTimeout(() => {
      if (alerts.get(message.alert.id)?.status === "resolved") {
        alerts.delete(message.alert.id);
        render();
      }
    }, RESOLVED_SHOWN_MS);
  } else {
    return;
  }
  render();
}

function follow(retryMs) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/alerts/`);
  let pinger = null;
  socket.addEventListener("open", () => {
    retryMs = FIRST_RETRY_MS;
    pinger = setInterval(() => socket.send(JSON.stringify({ type: "ping" })), PING_MS);
  });
  socket.addEventListener("message", (event) => {
    try {
      take(JSON.parse(event.data));
    } catch (_) {
      // A frame that is not JSON carries nothing for the banner.
    }
  });
  socket.addEventListener("close", (event) => {
    clearInterval(pinger);
    if (event.code === 4401 || event.code === 4403) return; // signed out or no longer staff: stop asking
    setTimeout(() => follow(Math.min(retryMs * 2, MAX_RETRY_MS)), retryMs);
  });
}

if (section && list) follow(FIRST_RETRY_MS);
