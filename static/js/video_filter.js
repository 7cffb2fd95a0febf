// Which boxes are shown: the classes ticked and the confidence floor. The slider starts at the floor the run
// kept boxes at (below it there is nothing to show); "filter:changed" tells the drawings.

import { classColor, el, emit, on } from "./video_common.js";
import * as boxes from "./video_detections.js";

const classFilter = document.getElementById("class-filter");
const slider = document.getElementById("confidence");
const sliderValue = document.getElementById("confidence-value");

function renderClassFilter() {
  classFilter.querySelectorAll("label, .small").forEach((node) => node.remove());
  const names = boxes.classNames();
  if (!names.length) {
    classFilter.appendChild(el("span", "small", "No detections."));
    return;
  }
  names.forEach((name) => {
    const label = el("label", "class-option");
    const box = el("input");
    box.type = "checkbox";
    box.checked = !boxes.isClassHidden(name);
    box.value = name;
    box.addEventListener("change", () => {
      boxes.setClassShown(name, box.checked);
      emit("filter:changed", { classes: true });
    });
    const swatch = el("span", "swatch");
    swatch.style.background = classColor(name);
    label.append(box, swatch, document.createTextNode(` ${name} (${boxes.classTotal(name)})`));
    classFilter.appendChild(label);
  });
}

// A run keeps no box below its floor: the slider starts there for each run drawn.
export function startAt(floor) {
  if (floor === null || floor === undefined || Number(slider.value) === Number(floor)) return;
  slider.value = String(floor);
  boxes.setMinConfidence(slider.value);
  sliderValue.textContent = Number(slider.value).toFixed(2);
  emit("filter:changed", { confidence: true });
}

export function setup() {
  boxes.setMinConfidence(slider.value);
  sliderValue.textContent = Number(slider.value).toFixed(2);
  slider.addEventListener("input", () => {
    boxes.setMinConfidence(slider.value);
    sliderValue.textContent = Number(slider.value).toFixed(2);
    emit("filter:changed", { confidence: true });
  });
  on("boxes:changed", renderClassFilter);
  on("boxes:failed", ({ message }) => {
    const note = classFilter.querySelector(".small");
    if (note) note.textContent = message;
  });
}
