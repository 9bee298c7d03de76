// The admin export page: each "Select all" box toggles its resource's field
// boxes through django-import-export's own handler (the page's inline
// onchange attribute is refused by the Content-Security-Policy).
"use strict";
(function () {
  if (typeof window.onSelectToggleChange !== "function") {
    return;
  }
  document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
    toggle.addEventListener("change", window.onSelectToggleChange);
  });
})();
