// New-run form: show only the chosen architecture's options.
"use strict";

(function () {
  var select = document.querySelector("select[data-model-select]");
  if (!select) { return; }
  var show = function () {
    document.querySelectorAll("fieldset.model-options").forEach(function (fieldset) {
      fieldset.hidden = fieldset.dataset.model !== select.value;
    });
  };
  select.addEventListener("change", show);
  show();
})();
