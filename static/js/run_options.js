// The run options fieldset (templates/_run_options.html) of the upload form and of "Another run": lists the
// registered models, each with its classes, and the chosen model's classes as checkboxes. The pages' scripts
// read the chosen values with `fieldset.runOptions()`, the names and values the API takes.

const NUMBERS = ["confidence", "frame_step", "start_frame", "end_frame", "max_fps"];

function classNames(model) {
  return Object.entries(model.class_names || {})
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, name]) => name);
}

async function registeredModels() {
  const response = await fetch("/api/v1/models/?per_page=100", { credentials: "same-origin" });
  if (!response.ok) return [];
  const payload = await response.json();
  return Array.isArray(payload) ? payload : payload.results || [];
}

function renderClasses(fieldset, names) {
  const box = fieldset.querySelector("[data-role=classes]");
  const legend = box.querySelector("legend");
  box.replaceChildren(legend);
  if (!names.length) {
    const note = document.createElement("span");
    note.className = "small";
    note.textContent = "This model's classes are not known: it keeps all.";
    box.appendChild(note);
    return;
  }
  const prefix = fieldset.id;
  names.forEach((name, index) => {
    const label = document.createElement("label");
    label.className = "class-choice";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "classes";
    input.value = name;
    input.id = `${prefix}-class-${index}`;
    label.htmlFor = input.id;
    label.append(input, ` ${name}`);
    box.appendChild(label);
  });
}

function values(fieldset) {
  const options = {};
  const model = fieldset.querySelector("[data-role=model]").value;
  if (model) options.model = model;
  const classes = Array.from(fieldset.querySelectorAll("input[name=classes]:checked")).map((input) => input.value);
  if (classes.length) options.classes = classes;
  NUMBERS.forEach((name) => {
    const input = fieldset.querySelector(`[name=${name}]`);
    if (input && input.value.trim() !== "") options[name] = Number(input.value);
  });
  options.track = fieldset.querySelector("[name=track]").checked;
  const priority = fieldset.querySelector("[name=priority]");
  if (priority) options.priority = priority.value;
  return options;
}

async function mount(fieldset) {
  fieldset.runOptions = () => values(fieldset);
  const select = fieldset.querySelector("[data-role=model]");
  const summary = fieldset.querySelector("[data-role=model-classes]");
  const models = await registeredModels();
  const byName = new Map();
  let defaultModel = null;
  models.forEach((model) => {
    if (byName.has(model.name)) return; // runs choose a model by name: its default or newest version
    byName.set(model.name, model);
    if (model.is_default) defaultModel = model;
    const names = classNames(model);
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = `${model.name}${model.is_default ? " (default)" : ""}: ${names.length} classes` +
      (names.length ? ` (${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""})` : "");
    select.appendChild(option);
  });
  const show = () => {
    const model = byName.get(select.value) || defaultModel;
    const names = model ? classNames(model) : [];
    summary.textContent = model ? `Finds: ${names.join(", ") || "unknown classes"}` : "";
    renderClasses(fieldset, names);
  };
  select.addEventListener("change", show);
  show();
  fieldset.dataset.ready = "true";
}

document.querySelectorAll("[data-run-options]").forEach((fieldset) => { mount(fieldset); });
