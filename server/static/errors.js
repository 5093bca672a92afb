// Error analysis: select rows, tag them from the keyboard through the JSON API, redraw the counts.
"use strict";

(function () {
  var dataNode = document.getElementById("errors-data");
  if (!dataNode) { return; }
  var data = JSON.parse(dataNode.textContent);
  var table = document.getElementById("errors");
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  var selected = new Set();
  var cursor = rows.length ? 0 : -1;
  var anchor = null;
  var tags = data.tags.slice();
  var api = "/api/v1/projects/" + data.project_id;

  function sendJson(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: window.Trainboard.jsonHeaders(),
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) { return response.status === 204 ? null : response.json(); }
      // Say what the server refused (e.g. a corrected label that is not one of the dataset's classes).
      return response.json().catch(function () { return {}; }).then(function (reply) {
        var detail = reply.detail;
        var text = Array.isArray(detail) ? detail.map(function (d) { return d.msg; }).join("; ") : detail;
        throw new Error(text || method + " " + url + " -> " + response.status);
      });
    });
  }

  // ------------------------------------------------------------ selection

  function rowTags(row) { return row.dataset.tags ? row.dataset.tags.split(",") : []; }

  function paint() {
    rows.forEach(function (row, i) {
      var on = selected.has(row);
      row.classList.toggle("selected", on);
      row.classList.toggle("cursor", i === cursor);
      row.querySelector(".row-select").checked = on;
    });
    var count = document.getElementById("selection-count");
    count.textContent = selected.size ? selected.size + " selected" : "No rows selected";
    var all = document.getElementById("select-all");
    if (all) { all.checked = rows.length > 0 && selected.size === rows.length; }
  }

  function toggle(row) { if (selected.has(row)) { selected.delete(row); } else { selected.add(row); } }

  function selectRange(from, to) {
    var lo = Math.min(from, to), hi = Math.max(from, to);
    for (var i = lo; i <= hi; i++) { selected.add(rows[i]); }
  }

  rows.forEach(function (row, i) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("input.corrected, a, details, summary")) { return; }
      if (event.shiftKey && anchor !== null) {
        selectRange(anchor, i);
        if (window.getSelection) { window.getSelection().removeAllRanges(); }
      } else {
        toggle(row);
        anchor = i;
      }
      cursor = i;
      paint();
    });
  });

  var selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      selected = new Set(selectAll.checked ? rows : []);
      paint();
    });
  }

  function targets() {
    if (selected.size) { return Array.from(selected); }
    return cursor >= 0 ? [rows[cursor]] : [];
  }

  // ------------------------------------------------------------ tagging

  function drawTags(row, names) {
    names.sort();
    row.dataset.tags = names.join(",");
    var cell = row.querySelector("td.tags");
    cell.textContent = "";
    names.forEach(function (name) {
      var span = document.createElement("span");
      span.className = "tag";
      span.textContent = name;
      cell.appendChild(span);
      cell.appendChild(document.createTextNode(" "));
    });
    var corrected = row.querySelector("input.corrected");  // none on a multi-task run's page
    if (corrected) { corrected.hidden = names.indexOf(data.mislabeled) < 0; }
  }

  function applyTag(name) {
    var chosen = targets();
    if (!chosen.length || !name) { return Promise.resolve(); }
    // Toggle: when every chosen row has the tag, remove it; otherwise add it to all of them.
    var remove = chosen.every(function (row) { return rowTags(row).indexOf(name) >= 0; });
    var body = {example_ids: chosen.map(function (row) { return row.dataset.example; }),
                add: remove ? [] : [name], remove: remove ? [name] : []};
    return sendJson("POST", api + "/examples/tags", body).then(function () {
      chosen.forEach(function (row) {
        var names = rowTags(row).filter(function (t) { return t !== name; });
        if (!remove) { names.push(name); }
        drawTags(row, names);
      });
      if (!remove && name === data.mislabeled && chosen.length === 1) {
        var input = chosen[0].querySelector("input.corrected");
        if (input) { input.focus(); }
      }
      return refreshCounts();
    }).catch(showError);
  }

  // Reviewed without a category: the rows join the sample the "share of reviewed" column is estimated from.
  function markReviewed() {
    var chosen = selected.size ? Array.from(selected) : rows.slice();
    if (!chosen.length) { return Promise.resolve(); }
    var body = {example_ids: chosen.map(function (row) { return row.dataset.example; }),
                add: [data.reviewed], remove: []};
    return sendJson("POST", api + "/examples/tags", body).then(function () {
      chosen.forEach(function (row) {
        var names = rowTags(row);
        if (names.indexOf(data.reviewed) < 0) { names.push(data.reviewed); }
        drawTags(row, names);
      });
      return refreshCounts();
    }).catch(showError);
  }

  document.getElementById("mark-reviewed").addEventListener("click", markReviewed);

  function addToPalette(name) {
    if (tags.indexOf(name) >= 0) { return; }
    tags.push(name);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "tag-key";
    button.dataset.tag = name;
    var key = document.createElement("kbd");
    key.textContent = tags.length <= 9 ? String(tags.length) : "";
    button.appendChild(key);
    button.appendChild(document.createTextNode(" " + name));
    button.disabled = tags.length > 9;
    document.getElementById("palette").appendChild(button);
  }

  document.getElementById("palette").addEventListener("click", function (event) {
    var button = event.target.closest("button.tag-key");
    if (button) { applyTag(button.dataset.tag); }
  });

  var newTag = document.getElementById("new-tag");
  document.getElementById("new-tag-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var name = newTag.value.trim().replace(/,/g, " ");
    if (!name) { return; }
    newTag.value = "";
    newTag.blur();
    addToPalette(name);
    applyTag(name);
  });

  // Corrected labels are saved as they are typed (on change).
  rows.forEach(function (row) {
    var input = row.querySelector("input.corrected");
    if (!input) { return; }
    input.addEventListener("change", function () {
      var url = api + "/label-corrections/" + encodeURIComponent(row.dataset.example);
      var value = input.value.trim();
      var request = value ? sendJson("PUT", url, {corrected_label: /^-?\d+$/.test(value) ? Number(value) : value})
                          : sendJson("DELETE", url);
      request.then(function () { input.classList.add("saved"); }).catch(showError);
    });
  });

  // ------------------------------------------------------------ keyboard

  document.addEventListener("keydown", function (event) {
    var typing = event.target.closest && event.target.closest("input, select, textarea");
    if (typing) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || !rows.length && event.key !== "t") { return; }
    var key = event.key;
    if (key === "j" || key === "ArrowDown") { cursor = Math.min(cursor + 1, rows.length - 1); }
    else if (key === "k" || key === "ArrowUp") { cursor = Math.max(cursor - 1, 0); }
    else if (key === "x" || key === " ") { toggle(rows[cursor]); anchor = cursor; }
    else if (key === "a") { selected = new Set(rows); }
    else if (key === "Escape") { selected.clear(); }
    else if (key === "t") { newTag.focus(); }
    else if (key === "r") { markReviewed(); }
    else if (/^[1-9]$/.test(key)) {
      var name = tags[Number(key) - 1];
      if (name) { applyTag(name); }
    } else { return; }
    event.preventDefault();
    paint();
    if (rows[cursor]) { rows[cursor].scrollIntoView({block: "nearest"}); }
  });

  // ------------------------------------------------------------ counts and charts

  var statusNode = null;
  function showError(error) {
    if (!statusNode) {
      statusNode = document.createElement("p");
      statusNode.className = "message message-error";
      statusNode.setAttribute("role", "alert");
      document.getElementById("tag-toolbar").appendChild(statusNode);
    }
    statusNode.textContent = "Could not save: " + error.message;
  }

  // The totals and the counts table are drawn by the server alone (templates/errors/_tag_counts.html):
  // fetch them again and swap each element in for the one with the same id.
  function swapCounts(html) {
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    Array.prototype.slice.call(fresh.content.children).forEach(function (node) {
      var old = node.id && document.getElementById(node.id);
      if (old) { old.replaceWith(node); }
    });
  }

  var layoutBase = {margin: {l: 50, r: 50, t: 10, b: 40}, font: {size: 12}, paper_bgcolor: "rgba(0,0,0,0)",
                    plot_bgcolor: "rgba(0,0,0,0)"};
  var config = {displayModeBar: false, responsive: true};

  function drawPareto(counts) {
    var node = document.getElementById("pareto");
    if (!window.Plotly || !node) { return; }
    if (!counts.by_tag.length) { return; }
    // Drop only the placeholder: wiping the node would leave Plotly diffing against a plot that is gone.
    var placeholder = node.querySelector(".chart-empty");
    if (placeholder) { placeholder.remove(); }
    var names = counts.by_tag.map(function (t) { return window.Trainboard.plotText(t.tag); });
    // The Pareto line: the server's cumulative share of tag counts (server/error_analysis.py).
    var cumulative = counts.by_tag.map(function (t) { return 100 * t.cumulative_share; });
    window.Plotly.react(node, [
      {type: "bar", x: names, y: counts.by_tag.map(function (t) { return t.count; }), name: "errors",
       marker: {color: "#2456d6"}},
      {type: "scatter", mode: "lines+markers", x: names, y: cumulative, yaxis: "y2", name: "cumulative % of tag counts",
       line: {color: "#e67e22"}}
    ], Object.assign({}, layoutBase, {
      showlegend: false,
      yaxis: {title: {text: "errors"}, rangemode: "tozero"},
      yaxis2: {title: {text: "cumulative %"}, overlaying: "y", side: "right", range: [0, 105]}
    }), config);
  }

  function drawConfusion(counts) {
    var node = document.getElementById("confusion");
    if (!window.Plotly || !node || !counts.confusion.labels.length) { return; }
    var labels = counts.confusion.labels.map(String);
    // The raw labels stay the data (a click filters by them); what is drawn is escaped.
    var names = data.class_names || {};  // "1" -> "pos": the dataset's own names where it has them
    var shown = labels.map(function (label) { return window.Trainboard.plotText(names[label] || label); });
    var matrix = counts.confusion.matrix;
    // Colour the mistakes: the diagonal would drown them, so it is shown as text only.
    var z = matrix.map(function (row, i) { return row.map(function (v, j) { return i === j ? null : v; }); });
    var hover = matrix.map(function (row, i) {
      return row.map(function (v, j) { return "true " + shown[i] + ", predicted " + shown[j] + ": " + v; });
    });
    window.Plotly.react(node, [{
      type: "heatmap", x: labels, y: labels, z: z, colorscale: "Reds", hoverongaps: false,
      text: matrix, texttemplate: "%{text}", hovertext: hover, hovertemplate: "%{hovertext}<extra></extra>"
    }], Object.assign({}, layoutBase, {
      xaxis: {title: {text: "predicted"}, type: "category", side: "bottom", tickvals: labels, ticktext: shown},
      yaxis: {title: {text: "true"}, type: "category", autorange: "reversed", tickvals: labels, ticktext: shown}
    }), config);
    node.on("plotly_click", function (event) {
      var point = event.points[0];
      if (point.x === point.y) { return; }
      window.location.href = data.filter_url + "&label=" + encodeURIComponent(point.y) +
        "&predicted=" + encodeURIComponent(point.x) + "#mistakes";
    });
  }

  function drawPrCurve() {
    var node = document.getElementById("pr-curve");
    if (!window.Plotly || !node || !data.pr_curve) { return; }
    window.Plotly.react(node, [{
      type: "scatter", mode: "lines", x: data.pr_curve.recall, y: data.pr_curve.precision, line: {shape: "hv"},
      customdata: data.pr_curve.thresholds,
      hovertemplate: "threshold %{customdata:.3f}: recall %{x:.3f}, precision %{y:.3f}<extra></extra>"
    }], Object.assign({}, layoutBase, {
      xaxis: {title: {text: "recall"}, range: [0, 1.02]}, yaxis: {title: {text: "precision"}, range: [0, 1.02]}
    }), config);
  }

  function fetchOk(url, accept) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": accept}}).then(function (response) {
      if (!response.ok) { throw new Error("GET " + url + " -> " + response.status); }
      return response;
    });
  }

  function refreshCounts() {
    return Promise.all([
      fetchOk(data.counts_url, "text/html").then(function (response) { return response.text(); }).then(swapCounts),
      fetchOk(data.analysis_url, "application/json").then(function (response) { return response.json(); })
        .then(drawPareto)
    ]);
  }

  function drawCharts() {
    drawPareto(data.counts);
    drawConfusion(data.counts);
    drawPrCurve();
  }

  if (window.Plotly) { drawCharts(); } else { window.addEventListener("load", drawCharts); }
  paint();
})();
