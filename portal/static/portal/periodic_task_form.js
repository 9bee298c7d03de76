// The periodic task admin form: under the crontab field's help, show the
// chosen schedule in words (from the JSON the page carries), and hide the
// read-only "translation" row that only repeats it.
"use strict";
(function () {
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  if (!data || !select) {
    return;
  }
  const readable = JSON.parse(data.textContent);
  const row = document.querySelector(".field-crontab");
  const help = row && row.querySelector(".help");
  const original = help ? help.textContent : "";
  document.querySelectorAll(".field-crontab_translation").forEach(function (el) {
    el.hidden = true;
  });
  function show() {
    if (!help) {
      return;
    }
    const words = readable[select.value];
    help.textContent = words ? original + " Translation: " + words : original;
  }
  select.addEventListener("change", show);
  show();
})();
