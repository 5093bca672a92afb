// New-run form: show only the chosen architecture's options, and say what a blank field becomes.
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

  // A blank init or decay rate takes a default that depends on another field (the activation, the
  // schedule); the server lists the texts, this only shows the one for the field's current value.
  document.querySelectorAll("[data-blank-follows]").forEach(function (input) {
    var source = document.getElementById(input.dataset.blankFollows);
    if (!source) { return; }
    var texts = JSON.parse(input.dataset.blankTexts);
    var update = function () {
      var text = texts[source.value] || "";
      if (input.tagName === "SELECT") {
        var blank = input.querySelector("option[value='']");
        if (blank) { blank.textContent = text; }
      } else {
        input.placeholder = text;
      }
    };
    source.addEventListener("change", update);
    update();
  });
})();
