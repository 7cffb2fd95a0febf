// The first-run welcome (templates/dashboard.html): names the classes the default model finds.

const target = document.querySelector("[data-role=default-model-classes]");

function classNames(model) {
  return Object.entries(model.class_names || {})
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, name]) => name);
}

async function showDefaultModelClasses() {
  const response = await fetch("/api/v1/models/?per_page=100", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const payload = await response.json();
  const models = Array.isArray(payload) ? payload : payload.results || [];
  const model = models.find((each) => each.is_default) || models[0];
  if (!model) {
    target.textContent = "No model is registered yet: the first video registers the default one.";
    return;
  }
  const names = classNames(model);
  target.textContent = names.length
    ? `The default model, ${model.name}, finds ${names.length} kinds of object: ${names.join(", ")}.`
    : `The default model, ${model.name}, does not list its classes: it keeps every object it finds.`;
}

if (target) {
  showDefaultModelClasses().catch(() => {
    target.textContent = "The model's classes could not be loaded; the upload form lists them.";
  });
}
