// Project page: refresh the rows of queued and running runs every 2 s until none is left; reload the page
// once when one ends, so the leaderboard and the tag filter agree with the runs table.
"use strict";

(function () {
  var ACTIVE = ["queued", "running"];
  var INTERVAL_MS = 2000;

  function pct(value) {
    return value === undefined || value === null ? "—" : (value * 100).toFixed(2) + " %";
  }

  function setProgress(cell, run) {
    cell.textContent = "";
    var p = run.progress;
    if (run.status !== "running" || !p || !p.epochs) { return; }
    var bar = document.createElement("progress");
    bar.max = p.epochs;
    bar.value = p.epoch;
    var text = document.createElement("span");
    text.className = "progress-text";
    text.textContent = p.epoch + "/" + p.epochs;
    cell.appendChild(bar);
    cell.appendChild(text);
  }

  function update(row, run) {
    row.dataset.status = run.status;
    var badge = row.querySelector("[data-role=status]");
    badge.textContent = run.status;
    badge.className = "badge status-" + run.status;
    setProgress(row.querySelector("[data-role=progress]"), run);
    row.querySelectorAll("[data-metric]").forEach(function (cell) {
      cell.textContent = pct(run.summary[cell.dataset.metric]);
    });
  }

  function activeRows() {
    return Array.prototype.filter.call(document.querySelectorAll("tr[data-run-id]"), function (row) {
      return ACTIVE.indexOf(row.dataset.status) >= 0;
    });
  }

  // This poll is the page's one live source. A run that ends (or gains a tag) changes more than its row:
  // the leaderboard's ranks and statuses, the tag filter's choices, the groups. Rather than patch each, the
  // page reloads once, so no part of it says "running" next to another that says "succeeded".
  var seenTags = {};
  function changesThePage(row, run) {
    var tags = (run.tags || []).slice().sort().join("\n");
    var id = row.dataset.runId;
    var tagged = id in seenTags && seenTags[id] !== tags;
    seenTags[id] = tags;
    return ACTIVE.indexOf(run.status) < 0 || tagged;
  }

  function poll() {
    var rows = activeRows();
    if (rows.length === 0) { return; }
    var reload = false;
    Promise.all(rows.map(function (row) {
      return fetch("/api/v1/runs/" + row.dataset.runId, { headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (run) {
          if (!run) { return; }
          update(row, run);
          if (changesThePage(row, run)) { reload = true; }
        })
        .catch(function () { /* keep the last values; try again next tick */ });
    })).then(function () {
      if (reload) { window.location.reload(); return; }
      window.setTimeout(poll, INTERVAL_MS);
    });
  }

  if (activeRows().length > 0) { window.setTimeout(poll, INTERVAL_MS); }
})();

// A link to #edit-project (e.g. "set the human-level error" on a run page) opens the edit form.
(function () {
  var edit = document.getElementById("edit-project");
  if (edit && window.location.hash === "#edit-project") { edit.open = true; }
})();

// Seed groups: a group's row expands to its runs (and folds them away again).
(function () {
  document.querySelectorAll("button.group-toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.querySelector(".arrow").textContent = open ? "▾" : "▸";
      button.title = open ? "Hide the group's runs" : "Show the group's runs";
      document.querySelectorAll("tr.group-member").forEach(function (row) {
        if (row.dataset.group === button.dataset.group) { row.hidden = !open; }
      });
    });
  });
})();

// Bulk actions: the runs ticked in the table (their boxes belong to the compare form) go with the bulk form.
(function () {
  var bulk = document.getElementById("bulk-form");
  if (!bulk) { return; }
  bulk.addEventListener("submit", function (event) {
    bulk.querySelectorAll("input[name=run_ids]").forEach(function (input) { input.remove(); });
    var ticked = document.querySelectorAll("input.compare-pick:checked");
    if (ticked.length === 0) {
      event.preventDefault();
      window.alert("Tick the runs first.");
      return;
    }
    ticked.forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "run_ids";
      input.value = box.value;
      bulk.appendChild(input);
    });
  });
})();

// The filter form leaves its empty fields out of the URL (a bookmark reads as what was asked).
(function () {
  var form = document.getElementById("run-query");
  if (!form) { return; }
  form.addEventListener("submit", function () {
    form.querySelectorAll("input[type=text], input[type=search], select").forEach(function (field) {
      if (field.value === "") { field.disabled = true; }
    });
  });
})();
