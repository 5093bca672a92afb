// Small enhancements shared by every page (the pages work without them).
"use strict";

(function () {
  // Filters submit as soon as a choice changes.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
    var button = select.form.querySelector("button[type=submit]");
    if (button) { button.hidden = true; }
  });

  // A select whose options carry data-description shows the chosen one's description.
  document.querySelectorAll("select[data-describe]").forEach(function (select) {
    var target = document.getElementById(select.dataset.describe);
    if (!target) { return; }
    var show = function () {
      var option = select.options[select.selectedIndex];
      target.textContent = option ? option.dataset.description || "" : "";
    };
    select.addEventListener("change", show);
    show();
  });

  // Cancel asks first.
  var cancel = document.getElementById("cancel-form");
  if (cancel) {
    cancel.addEventListener("submit", function (event) {
      if (!window.confirm("Cancel this run? A running run stops at its next progress report.")) {
        event.preventDefault();
      }
    });
  }
})();
