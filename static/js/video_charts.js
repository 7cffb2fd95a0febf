// Two drawings: the detections per class over the video (our own SVG, a cursor at the frame shown), and the
// run's stages on one time axis (Gantt-like): stages that run at once, extraction and inference, overlap there
// instead of adding up.

import { classColor, el, on, page, stageLabel, svg, timecode } from "./video_common.js";
import * as boxes from "./video_detections.js";

let moveCursor = () => {};

export function renderChart() {
  const chart = document.getElementById("chart");
  chart.textContent = "";
  const frames = boxes.frames();
  if (!frames.length) {
    chart.appendChild(el("p", "small", "No detections yet."));
    moveCursor = () => {};
    return;
  }
  const lastFrame = Math.max(page.frameCount - 1, frames[frames.length - 1], 1);
  const bins = Math.min(60, lastFrame + 1);
  const perBin = (lastFrame + 1) / bins;
  const top = boxes.classNames().filter((n) => !boxes.isClassHidden(n)).slice(0, 6);
  const series = new Map(top.map((name) => [name, new Array(bins).fill(0)]));
  frames.forEach((frame) => {
    const bin = Math.min(bins - 1, Math.floor(frame / perBin));
    boxes.rowsOf(frame).forEach((row) => {
      if (boxes.isShown(row) && series.has(row[4])) series.get(row[4])[bin] += 1;
    });
  });
  let max = 1;
  series.forEach((values) => values.forEach((v) => { if (v > max) max = v; }));
  const W = 480, H = 180, L = 36, B = 22, T = 8, R = 8;
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg",
    "aria-label": `Detections per class over time: ${top.join(", ") || "no class shown"}` });
  const x = (i) => L + (bins === 1 ? 0 : (i / (bins - 1)) * (W - L - R));
  const y = (v) => T + (1 - v / max) * (H - T - B);
  plot.appendChild(svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }));
  plot.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: y(0), class: "axis" }));
  [[0, "0"], [max, String(max)]].forEach(([v, label]) => {
    const t = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" });
    t.textContent = label;
    plot.appendChild(t);
  });
  const seconds = page.fps ? (lastFrame + 1) / page.fps : lastFrame + 1;
  [[0, "0"], [bins - 1, page.fps ? `${seconds.toFixed(1)} s` : `frame ${lastFrame}`]].forEach(([i, label]) => {
    const t = svg("text", { x: x(i), y: H - 6, "text-anchor": i ? "end" : "start", class: "tick" });
    t.textContent = label;
    plot.appendChild(t);
  });
  series.forEach((values, name) => {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const line = svg("polyline", { points, fill: "none", stroke: classColor(name), "stroke-width": 2 });
    const title = svg("title");
    title.textContent = name;
    line.appendChild(title);
    plot.appendChild(line);
  });
  const cursor = svg("line", { x1: L, y1: T, x2: L, y2: y(0), class: "cursor", id: "chart-cursor" });
  plot.appendChild(cursor);
  chart.appendChild(plot);
  const legend = el("ul", "legend");
  series.forEach((_values, name) => {
    const item = el("li");
    const swatch = el("span", "swatch");
    swatch.style.background = classColor(name);
    item.append(swatch, document.createTextNode(" " + name));
    legend.appendChild(item);
  });
  chart.appendChild(legend);
  moveCursor = (frame) => {
    const pos = L + Math.min(1, frame / lastFrame) * (W - L - R);
    cursor.setAttribute("x1", pos.toFixed(1));
    cursor.setAttribute("x2", pos.toFixed(1));
  };
}

// The run's stages on one axis from the first start to the last end (now, for a stage still running).
export function renderTimeline(job) {
  const list = document.getElementById("timeline");
  list.textContent = "";
  const stages = (job && job.stages) || [];
  if (!stages.length) {
    list.appendChild(el("li", "small", "No run yet."));
    return;
  }
  const now = Date.now();
  const spans = stages.map((s) => {
    const start = s.started_at ? new Date(s.started_at).getTime() : null;
    const end = s.finished_at ? new Date(s.finished_at).getTime() : start !== null && s.status === "running" ? now : null;
    return [start, end];
  });
  const starts = spans.map(([s]) => s).filter((s) => s !== null);
  const ends = spans.map(([, e]) => e).filter((e) => e !== null);
  const origin = starts.length ? Math.min(...starts) : 0;
  const total = starts.length && ends.length ? Math.max(...ends) - origin : 0;
  stages.forEach((stage, i) => {
    const [start, end] = spans[i];
    // A cancel ends the stages still under way as failed, noting why: they read as cancelled.
    const status = stage.status === "failed" && stage.detail === "cancelled" ? "cancelled" : stage.status;
    const item = el("li", "stage-" + status);
    item.dataset.stage = stage.stage;
    item.appendChild(el("span", "name", stageLabel(stage.stage)));
    item.appendChild(el("span", "badge", status));
    const seconds = stage.duration_seconds;
    item.appendChild(el("span", "duration", seconds === null || seconds === undefined ? "" : `${seconds.toFixed(2)} s`));
    const track = el("span", "track");
    const fill = el("span", "fill");
    if (start !== null && end !== null && total > 0) {
      const left = (100 * (start - origin)) / total;
      const width = Math.max(0.5, (100 * (end - start)) / total);
      fill.style.marginLeft = `${left.toFixed(2)}%`;
      fill.style.width = `${Math.min(width, 100 - left).toFixed(2)}%`;
      fill.dataset.left = left.toFixed(2);
      fill.dataset.width = width.toFixed(2);
      track.title = `from +${timecode((start - origin) / 1000)} to +${timecode((end - origin) / 1000)}`;
      item.appendChild(el("span", "visually-hidden", `, ${track.title}`));
    } else {
      fill.hidden = true;
    }
    track.appendChild(fill);
    item.appendChild(track);
    list.appendChild(item);
  });
  const axis = el("li", "timeline-axis small");
  axis.append(el("span"), el("span"), el("span"), el("span", "axis-ends", total ? `0 → ${(total / 1000).toFixed(2)} s` : ""));
  list.appendChild(axis);
}

export function setup() {
  on("boxes:changed", renderChart);
  on("filter:changed", renderChart);
  on("frame:shown", ({ frame }) => moveCursor(frame));
}
