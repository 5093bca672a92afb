// Sweeps: the new-sweep form's sampling preview, and the sweep page's plots, sortable trials and live refresh.
"use strict";

(function () {
  var LOG_SCALES = { log: true, one_minus_log: true };

  function plot(element, traces, layout) {
    if (!window.Plotly) { return; }
    element.textContent = "";
    var base = { margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: false, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" };
    window.Plotly.newPlot(element, traces, Object.assign(base, layout), { displayModeBar: false, responsive: true });
  }

  // ------------------------------------------------------------ new-sweep form

  // A row's input: zoo rows are "dist_3", script rows "sp_dist_3" (data-prefix="sp_").
  function field(row, name) {
    return document.getElementById((row.getAttribute("data-prefix") || "") + name + "_" + row.getAttribute("data-index"));
  }

  function rowDistribution(row) {
    var kind = field(row, "dist").value;
    if (kind === "choice") {
      var choices = field(row, "choices").value.split(";").map(function (c) { return c.trim(); })
        .filter(function (c) { return c.length > 0; })
        .map(function (c) { try { return JSON.parse(c); } catch (error) { return c; } });  // as the server reads them
      var spec = {};
      spec[kind] = choices;
      return spec;
    }
    var low = parseFloat(field(row, "low").value);
    var high = parseFloat(field(row, "high").value);
    if (isNaN(low) || isNaN(high)) { return null; }
    var range = {};
    range[kind] = [low, high];
    return range;
  }

  function drawPreview(element, preview) {
    var values = preview.values;
    if (preview.scale === "categorical") {
      var counts = {};
      values.forEach(function (v) { var k = JSON.stringify(v); counts[k] = (counts[k] || 0) + 1; });
      plot(element, [{ type: "bar", x: Object.keys(counts).map(window.Trainboard.plotText), y: Object.keys(counts).map(function (k) { return counts[k]; }), marker: { color: "#2456d6" } }],
        { height: 70, width: 220, margin: { l: 10, r: 10, t: 5, b: 25 }, yaxis: { visible: false } });
      return;
    }
    var oneMinus = preview.scale === "one_minus_log";
    var xs = oneMinus ? values.map(function (v) { return 1 - v; }) : values;
    plot(element, [{
      type: "scatter", mode: "markers", x: xs, y: xs.map(function () { return Math.random(); }),
      text: values.map(function (v) { return String(v); }), hoverinfo: "text", marker: { size: 5, color: "#2456d6", opacity: 0.7 }
    }], {
      height: 70, width: 220, margin: { l: 10, r: 10, t: 5, b: 25 }, yaxis: { visible: false },
      xaxis: { type: LOG_SCALES[preview.scale] ? "log" : "linear", title: { text: oneMinus ? "1 − value" : "", standoff: 0 }, tickfont: { size: 9 } }
    });
  }

  function refreshPreview(row) {
    var element = field(row, "preview");
    var box = field(row, "on");
    var on = box ? box.checked : field(row, "path").value.trim() !== "";  // a script row counts once named
    if (!on) { element.textContent = ""; return; }
    var distribution = rowDistribution(row);
    if (!distribution) { element.textContent = "low and high must be numbers"; return; }
    fetch("/api/v1/sweeps/preview", {
      method: "POST", headers: window.Trainboard.jsonHeaders(), credentials: "same-origin",
      body: JSON.stringify({ distribution: distribution, n: 40, seed: 0 })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) {
        var detail = result.body.detail;
        element.textContent = Array.isArray(detail) ? detail[0].msg : String(detail);
        element.classList.add("field-error");
        return;
      }
      element.classList.remove("field-error");
      element.setAttribute("data-values", JSON.stringify(result.body.values));
      drawPreview(element, result.body);
    });
  }

  var form = document.getElementById("sweep-form");
  if (form) {
    var timers = {};
    var target = document.getElementById("target");
    var showTarget = function () {  // without script both parts show; the server reads the chosen one
      form.querySelectorAll("[data-for-target]").forEach(function (part) {
        part.hidden = part.getAttribute("data-for-target") !== target.value;
      });
    };
    if (target) { target.addEventListener("change", showTarget); showTarget(); }
    // Starting from a run changes which model's parameters the rows list: reload the form around it.
    var baseRun = document.getElementById("base_run");
    if (baseRun) {
      var showOwn = function () {
        form.querySelectorAll("[data-base-own]").forEach(function (part) { part.hidden = baseRun.value !== ""; });
      };
      showOwn();
      baseRun.addEventListener("change", function () {
        var url = "/projects/" + baseRun.getAttribute("data-project") + "/sweeps/new";
        window.location.href = baseRun.value ? url + "?from_run=" + encodeURIComponent(baseRun.value) : url;
      });
    }
    form.querySelectorAll("#space tbody tr, #script-space tbody tr").forEach(function (row) {
      var schedule = function () {
        var i = (row.getAttribute("data-prefix") || "") + row.getAttribute("data-index");
        clearTimeout(timers[i]);
        timers[i] = setTimeout(function () { refreshPreview(row); }, 250);
      };
      row.querySelectorAll("input, select").forEach(function (input) {
        input.addEventListener("input", schedule);
        input.addEventListener("change", schedule);
      });
      window.addEventListener("load", function () { refreshPreview(row); });
    });
  }

  // ------------------------------------------------------------ sweep page

  var dataElement = document.getElementById("sweep-data");
  if (!dataElement) { return; }
  var page = JSON.parse(dataElement.textContent);
  var SORT_KEY = "sweep-sort-" + page.id;

  function axisType(path) { return LOG_SCALES[page.scales[path]] ? "log" : "linear"; }

  function numeric(value) {
    if (typeof value === "number") { return value; }
    if (typeof value === "boolean") { return value ? 1 : 0; }
    return null;
  }

  // An error key draws in %, as every table and page shows it (the API keeps fractions).
  function shown(value) { return page.percent ? value * 100 : value; }
  var METRIC_TITLE = page.metric + (page.percent ? " (%)" : "");

  var SVG = "http://www.w3.org/2000/svg";
  function svgNode(name, attributes, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // Parallel coordinates in plain SVG: Plotly's parcoords needs WebGL, which many VMs and remote desktops
  // lack. One vertical axis per parameter (log ones in log10) and the metric last; one line per trial,
  // coloured from good (dark) to bad (light); the best trial drawn last, thick and orange.
  function drawParallel(element, scored, best) {
    var dimensions = page.params.map(function (path) {
      var raw = scored.map(function (t) { return t.params[path]; });
      if (raw.some(function (v) { return numeric(v) === null; })) {
        var labels = [];
        raw.forEach(function (v) { var k = JSON.stringify(v); if (labels.indexOf(k) < 0) { labels.push(k); } });
        return { label: path, values: raw.map(function (v) { return labels.indexOf(JSON.stringify(v)); }), ticks: labels };
      }
      if (page.scales[path] === "log") { return { label: path + " (log10)", values: raw.map(function (v) { return Math.log10(numeric(v)); }) }; }
      if (page.scales[path] === "one_minus_log") { return { label: "log10(1 − " + path + ")", values: raw.map(function (v) { return Math.log10(1 - numeric(v)); }) }; }
      return { label: path, values: raw.map(numeric) };
    });
    var metric = scored.map(function (t) { return shown(t.summary[page.metric]); });
    dimensions.push({ label: METRIC_TITLE, values: metric });
    var width = Math.max(element.clientWidth, 320), height = 320, top = 40, bottom = 20, side = 60;
    var svg = svgNode("svg", { width: "100%", height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "Parallel coordinates of " + scored.length + " trials", "class": "parallel" });
    var step = dimensions.length > 1 ? (width - 2 * side) / (dimensions.length - 1) : 0;
    dimensions.forEach(function (d, i) {
      var finite = d.values.filter(function (v) { return v !== null && isFinite(v); });
      d.low = Math.min.apply(null, finite); d.high = Math.max.apply(null, finite);
      if (d.ticks) { d.low = 0; d.high = Math.max(d.ticks.length - 1, 1); }
      if (!(d.high > d.low)) { d.low -= 1; d.high += 1; }
      d.x = side + i * step;
      d.y = function (v) { return top + (height - top - bottom) * (1 - (v - d.low) / (d.high - d.low)); };
    });
    var mLow = Math.min.apply(null, metric), mHigh = Math.max.apply(null, metric);
    function colour(v) {  // good -> dark blue, bad -> light
      var t = mHigh > mLow ? (v - mLow) / (mHigh - mLow) : 0;
      if (page.maximize) { t = 1 - t; }
      return "hsl(" + Math.round(230 - 150 * t) + ", 70%, " + Math.round(30 + 35 * t) + "%)";
    }
    var order = scored.map(function (_, i) { return i; }).sort(function (a, b) { return (scored[a].id === best) - (scored[b].id === best); });
    order.forEach(function (i) {
      var points = dimensions.map(function (d) { var v = d.values[i]; return v === null || !isFinite(v) ? null : d.x + "," + d.y(v).toFixed(1); });
      if (points.indexOf(null) >= 0) { return; }
      var isBest = scored[i].id === best;
      var line = svgNode("polyline", { points: points.join(" "), fill: "none", stroke: isBest ? "#e67e22" : colour(metric[i]), "stroke-width": isBest ? 3 : 1.5, "stroke-opacity": isBest ? 1 : 0.7, "data-run": scored[i].id });
      line.appendChild(svgNode("title", {}, scored[i].name + ": " + page.metric + " " + (+metric[i].toPrecision(4)) + (page.percent ? " %" : "")));
      svg.appendChild(line);
    });
    dimensions.forEach(function (d) {
      svg.appendChild(svgNode("line", { x1: d.x, x2: d.x, y1: top, y2: height - bottom, stroke: "#444" }));
      var anchor = d.x < side + 1 ? "start" : (d.x > width - side - 1 ? "end" : "middle");
      svg.appendChild(svgNode("text", { x: d.x, y: top - 22, "text-anchor": anchor, "class": "axis-label" }, d.label));
      var ticks = d.ticks ? d.ticks.map(function (label, i) { return [i, label]; }) : [[d.high, d.high], [d.low, d.low]];
      ticks.forEach(function (tick) {
        var text = typeof tick[1] === "number" ? String(+tick[1].toPrecision(3)) : tick[1];
        svg.appendChild(svgNode("text", { x: d.x + 4, y: d.y(tick[0]) + (tick[0] === d.high ? -4 : 12), "class": "tick" }, text));
      });
    });
    element.textContent = "";
    element.appendChild(svg);
  }

  function drawCharts(sweep) {
    var scored = sweep.trials.filter(function (t) { return typeof t.summary[page.metric] === "number"; });
    var parcoords = document.getElementById("parcoords");
    if (scored.length > 0 && parcoords) { drawParallel(parcoords, scored, sweep.best_run_id); }
    var scatters = document.getElementById("scatters");
    if (scatters && scored.length > 0) {
      scatters.textContent = "";
      page.params.forEach(function (path) {
        var box = document.createElement("div");
        box.className = "sweep-scatter";
        box.setAttribute("data-path", path);
        scatters.appendChild(box);
        var oneMinus = page.scales[path] === "one_minus_log";
        var categorical = page.scales[path] === "categorical";
        var xs = scored.map(function (t) { var v = t.params[path]; return oneMinus ? 1 - v : (categorical ? window.Trainboard.plotText(JSON.stringify(v)) : v); });
        plot(box, [{
          type: "scatter", mode: "markers", x: xs, y: scored.map(function (t) { return shown(t.summary[page.metric]); }),
          text: scored.map(function (t) { return window.Trainboard.plotText(t.name) + (t.stopped_early ? " (stopped early)" : ""); }),
          marker: { size: 8, color: scored.map(function (t) { return t.id === sweep.best_run_id ? "#e67e22" : (t.stopped_early ? "#aaa" : "#2456d6"); }) }
        }], {
          height: 260,
          xaxis: { title: { text: oneMinus ? "1 − " + path : path }, type: categorical ? "category" : axisType(path) },
          yaxis: { title: { text: METRIC_TITLE } }
        });
      });
    }
    var best = document.getElementById("best-so-far");
    if (best && page.best_so_far.value.length > 0) {
      // One x-axis (finished trials); the training time each took so far shows on hover.
      var curve = page.best_so_far;
      plot(best, [{
        type: "scatter", mode: "lines+markers", x: curve.trial, y: curve.value.map(shown), line: { shape: "hv", color: "#2456d6" },
        text: curve.seconds.map(function (s) { return "after " + Math.round(s) + " s of training"; }),
        hovertemplate: "trial %{x}: %{y:.4g}" + (page.percent ? " %" : "") + "<br>%{text}<extra></extra>"
      }], {
        height: 320,
        xaxis: { title: { text: "finished trials" }, rangemode: "nonnegative", dtick: curve.trial.length < 10 ? 1 : null },
        yaxis: { title: { text: "best " + METRIC_TITLE }, rangemode: "tozero" }, margin: { l: 60, r: 10, t: 10, b: 50 }
      });
    }
  }

  function sortValue(row, key) {
    var index = Array.prototype.indexOf.call(row.parentNode.parentNode.querySelectorAll("thead th"), row.parentNode.parentNode.querySelector('thead th[data-sort="' + key + '"]'));
    var text = row.children[index].textContent.trim();
    var number = parseFloat(text.replace(/,/g, ""));
    if (key === "id") { return parseInt(row.getAttribute("data-run"), 10); }
    return isNaN(number) || /^\[/.test(text) ? text : number;
  }

  function sortTable(key, descending) {
    var table = document.getElementById("trials");
    var body = table.querySelector("tbody");
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr"));
    rows.sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      var blankX = x === "—" || x === "", blankY = y === "—" || y === "";
      if (blankX !== blankY) { return blankX ? 1 : -1; }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("thead th").forEach(function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-sort") === key) { th.setAttribute("aria-sort", descending ? "descending" : "ascending"); }
    });
    sessionStorage.setItem(SORT_KEY, JSON.stringify([key, descending]));
  }

  document.querySelectorAll("#trials thead th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      sortTable(key, th.getAttribute("aria-sort") === "ascending");
    });
  });
  var saved = sessionStorage.getItem(SORT_KEY);
  if (saved) { var s = JSON.parse(saved); sortTable(s[0], s[1]); }

  function signature(sweep) {
    return sweep.status + ":" + sweep.counts.done + ":" + sweep.counts.running + ":" + sweep.counts.queued;
  }
  // What the page was rendered with: a sweep that finished before the first poll still reloads it.
  var rendered = signature(page);
  var drawn = false;
  var POLL_MS = 2000;
  var RETRY_MS = 5000;
  function load() {
    fetch(page.api_url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; })
      .then(function (sweep) {
        // A failed poll (the server busy or restarting, the network down) is tried again: giving up on
        // the first one left the page saying "running" forever.
        if (!sweep) { setTimeout(load, RETRY_MS); return; }
        if (signature(sweep) !== rendered) { window.location.reload(); return; }
        if (!drawn) { drawCharts(sweep); drawn = true; }
        if (sweep.status === "running" || sweep.status === "paused") { setTimeout(load, POLL_MS); }
      });
  }
  window.addEventListener("load", load);
})();
