// The admin's periodic task form (templates/admin/djcelery/change_periodictask_form.html): under the chosen
// crontab, its schedule in words. django-celery-beat ships this as an inline script, which the CSP refuses.
(function () {
  "use strict";

  const script = document.getElementById("periodic-task-overrides");
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  if (!script || !data || !select) return;
  const readable = JSON.parse(data.textContent);
  const originalHelp = script.dataset.crontabHelp || "";
  const translation = document.querySelector(".field-crontab_translation");
  if (translation) translation.hidden = true;

  function showTranslation() {
    const help = document.querySelector(".field-crontab .help");
    if (!help) return;
    const words = readable[select.value];
    help.replaceChildren(document.createTextNode(originalHelp));
    if (words) help.append(document.createElement("br"), document.createTextNode(`Translation: ${words}`));
  }

  select.addEventListener("change", showTranslation);
  showTranslation();
})();
