// Small enhancements shared by every page (the pages work without them).
"use strict";

// Plotly reads every string it draws as pseudo-HTML (<a href>, <b>, <span style>, <br>): text a user wrote
// (run names, tags, class labels) goes through plotText so it shows as typed and cannot add links or styles.
window.Trainboard = {
  plotText: function (value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  },
  // Headers of a JSON call to the API. With auth on, a write sent with the session cookie needs the
  // page's CSRF token (the one its forms carry) in X-CSRF-Token, or the server refuses it with 403.
  jsonHeaders: function () {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { headers["X-CSRF-Token"] = meta.getAttribute("content"); }
    return headers;
  }
};

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
