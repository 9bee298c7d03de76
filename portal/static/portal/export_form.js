// The admin export page: the "Select all" box toggles every field box, through
// django-import-export's own handler (its inline onchange is refused by the CSP).
"use strict";
(function () {
  const toggle = document.getElementById("select-all-toggle");
  if (toggle && typeof window.onSelectToggleChange === "function") {
    toggle.addEventListener("change", window.onSelectToggleChange);
  }
})();
