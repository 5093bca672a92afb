// Run page: a chart for every logged key (Plotly, from the metrics API, all series in one request per 100
// keys), grouped into panels by the key's "/" prefix after the canonical errors and losses; smoothing (the
// bias-corrected EMA of chart_math.js), log-scale y and the x-axis from the controls; live status and
// new points while the run is queued or running.
"use strict";

(function () {
  var dataElement = document.getElementById("run-data");
  if (!dataElement) { return; }
  var run = JSON.parse(dataElement.textContent);
  var math = window.TrainboardMath;
  var INTERVAL_MS = 2000;
  var TERMINAL = ["succeeded", "failed", "diverged", "cancelled"];
  // The batch reads' bounds (server.services.metrics.series): keys per request, points in all.
  var MAX_SERIES = 100, MAX_POINTS_ALL = 200000, MAX_TIMED_POINTS = 50000;
  // The per-key charts read with the canonical ones, before the rest: more than a first screen shows.
  var FIRST_KEYS = 12;
  var COLORS = {
    train_error: "#2456d6", train_dev_error: "#8e44ad", dev_error: "#e67e22", test_error: "#1e8449",
    train_loss: "#2456d6", dev_loss: "#e67e22"
  };
  var LABELS = {
    train_error: "train", train_dev_error: "train-dev", dev_error: "dev", test_error: "test",
    train_loss: "train", dev_loss: "dev"
  };
  var CANONICAL = run.error_keys.concat(run.loss_keys);
  var STORE = "trainboard.charts";

  // The keys the run has logged (its summary holds one value for each).
  var logged = run.metric_keys || [];
  // What the charts show, per key: the reduced series as the server sent it, plus the points logged since.
  var held = {};
  var controls = loadControls();
  rememberAxis(); // a choice saved before the cookie was kept
  var visible = {}; // per-key charts drawn once scrolled into view
  var pending = {}; // keys asked for whole and not answered yet: their charts say "Loading…"
  // plotly.min.js comes after this script, so that a first read the page's head did not preload is under
  // way while the browser parses it: every deferred script has run by DOMContentLoaded.
  // (A deferred script runs while readyState is already "interactive", before that event: wait for it, or
  // for load where this script came later.)
  var ready = new Promise(function (resolve) {
    if (document.readyState === "complete") { resolve(); return; }
    document.addEventListener("DOMContentLoaded", resolve);
    window.addEventListener("load", resolve);
  });
  var markFirstDrawn;
  var firstChartsDrawn = new Promise(function (resolve) { markFirstDrawn = resolve; });
  var observer = "IntersectionObserver" in window ? new IntersectionObserver(onVisible, { rootMargin: "300px" }) : null;

  function loadControls() {
    var saved = {};
    try { saved = JSON.parse(window.localStorage.getItem(STORE) || "{}") || {}; } catch (e) { saved = {}; }
    var beta = Number(saved.beta);
    return {
      beta: beta >= 0 && beta <= run.max_beta ? beta : 0,
      log: saved.log === true,
      x: ["step", "wall", "relative"].indexOf(saved.x) >= 0 ? saved.x : "step"
    };
  }

  function saveControls() {
    try { window.localStorage.setItem(STORE, JSON.stringify(controls)); } catch (e) { /* private mode */ }
    rememberAxis();
  }

  // The x-axis in a cookie too: the server then preloads the page's first read with the timestamps a time
  // axis needs (server/pages/charts.py, X_AXIS_COOKIE), instead of a read this page would not use.
  function rememberAxis() {
    document.cookie = run.x_cookie + "=" + controls.x + "; path=/runs; max-age=31536000; SameSite=Lax";
  }

  function timed() { return controls.x !== "step"; }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  // Requests of at most MAX_SERIES keys, each within the points the server allows in one read.
  function chunks(keys) {
    var size = Math.max(1, Math.min(MAX_SERIES, Math.floor((timed() ? MAX_TIMED_POINTS : MAX_POINTS_ALL) / run.max_points)));
    var out = [];
    for (var i = 0; i < keys.length; i += size) { out.push(keys.slice(i, i + size)); }
    return out;
  }

  function seriesUrl(keys, afterStep) {
    var url = run.series_url + "?keys=" + keys.map(encodeURIComponent).join(",") + "&max_points=" + run.max_points;
    if (timed()) { url += "&with_time=1"; }
    return afterStep === undefined ? url : url + "&after_step=" + afterStep;
  }

  // Every key, reduced by the server to at most max_points points each, and `drawn` (when given) called
  // with the keys each request brought as soon as it is in. The first request holds only what the first
  // screen shows, so those charts do not wait for the server to read, and the browser to parse, every other
  // series (200 keys x 2,000 points is 6.5 MB): `preloaded` (the page's first read, run.first_read: the
  // canonical keys, already asked for by the page's head) when given, else the canonical keys and the first
  // FIRST_KEYS charts in page order. The rest follow once it is in, in requests of at most MAX_SERIES keys.
  function fetchWhole(keys, drawn, preloaded) {
    var first, rest;
    if (preloaded) {
      first = preloaded.keys;
      rest = keys.filter(function (key) { return first.indexOf(key) < 0; }).sort(pageOrder);
    } else {
      var canonical = keys.filter(function (key) { return CANONICAL.indexOf(key) >= 0; });
      var others = keys.filter(function (key) { return CANONICAL.indexOf(key) < 0; }).sort(pageOrder);
      first = canonical.concat(others.slice(0, FIRST_KEYS));
      rest = others.slice(FIRST_KEYS);
    }
    keys.forEach(function (key) { pending[key] = true; });
    function read(part) {
      // The preloaded URL as the page's head wrote it, so that the browser hands over its answer.
      var url = preloaded && part === first && preloaded.with_time === timed() ? preloaded.url : seriesUrl(part);
      return getJson(url).then(function (answer) {
        part.forEach(function (key) { delete pending[key]; });
        if (answer) { answer.series.forEach(function (series) { held[series.key] = series; }); }
        if (drawn) { return drawn(part); }
      });
    }
    return Promise.all((preloaded ? [first] : chunks(first)).map(read)).then(function () {
      return Promise.all(chunks(rest).map(read));
    });
  }

  // Only the points after the last step each chart holds: one request per distinct last step (the
  // per-epoch errors and the per-step losses), so a poll costs the same however long the run is. A series
  // that has grown to twice max_points is read whole again, reduced anew.
  function fetchNew(keys) {
    var byStep = {};
    var whole = [];
    keys.forEach(function (key) {
      var series = held[key];
      if (!series || series.points.length === 0 || (timed() && !series.times)) { whole.push(key); return; }
      var last = series.points[series.points.length - 1][0];
      (byStep[last] = byStep[last] || []).push(key);
    });
    var requests = [];
    Object.keys(byStep).forEach(function (step) {
      chunks(byStep[step]).forEach(function (part) {
        requests.push(getJson(seriesUrl(part, step)).then(function (answer) {
          if (!answer) { return; }
          answer.series.forEach(function (update) {
            var series = held[update.key];
            series.points = series.points.concat(update.points);
            if (series.times && update.times) { series.times = series.times.concat(update.times); }
            series.total_points += update.total_points;
            if (series.points.length > 2 * run.max_points) { whole.push(update.key); }
          });
        }));
      });
    });
    return Promise.all(requests).then(function () { return fetchWhole(whole); });
  }

  // ---- panels: one chart per key outside the canonical charts, grouped by the "/" prefix ----

  function panelOf(key) {
    var slash = key.indexOf("/");
    return slash > 0 ? key.slice(0, slash + 1) : "";
  }

  function panelOrder(a, b) {
    // Keys without a prefix first, then prefixes alphabetically, the system metrics last.
    function rank(p) { return p === "" ? 0 : p === run.system_prefix ? 2 : 1; }
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  }

  // The order the charts have on the page: by panel, then by key.
  function pageOrder(a, b) {
    return panelOrder(panelOf(a), panelOf(b)) || (a < b ? -1 : a > b ? 1 : 0);
  }

  function buildPanels() {
    var container = document.getElementById("key-panels");
    var keys = logged.filter(function (key) { return CANONICAL.indexOf(key) < 0; }).sort();
    var byPanel = {};
    keys.forEach(function (key) { (byPanel[panelOf(key)] = byPanel[panelOf(key)] || []).push(key); });
    Object.keys(byPanel).sort(panelOrder).forEach(function (prefix) {
      var panel = container.querySelector('.key-panel[data-prefix="' + CSS.escape(prefix) + '"]');
      if (!panel) {
        panel = document.createElement("details");
        panel.className = "key-panel";
        panel.open = true;
        panel.dataset.prefix = prefix;
        var summary = document.createElement("summary");
        summary.textContent = prefix === "" ? "Other metrics" : prefix === run.system_prefix ? "System (" + prefix + ")" : prefix;
        var grid = document.createElement("div");
        grid.className = "key-charts";
        panel.appendChild(summary);
        panel.appendChild(grid);
        // Keep panels in order when one appears mid-run.
        var next = Array.prototype.find.call(container.children, function (other) {
          return panelOrder(prefix, other.dataset.prefix) < 0;
        });
        container.insertBefore(panel, next || null);
      }
      var grid = panel.querySelector(".key-charts");
      byPanel[prefix].forEach(function (key) {
        if (grid.querySelector('.key-chart[data-key="' + CSS.escape(key) + '"]')) { return; }
        var card = document.createElement("div");
        card.className = "card key-chart-card";
        var title = document.createElement("h3");
        var code = document.createElement("code");
        code.textContent = key;
        title.appendChild(code);
        var chart = document.createElement("div");
        chart.className = "chart key-chart";
        chart.dataset.key = key;
        var note = document.createElement("p");
        note.className = "chart-empty muted";
        note.textContent = "Loading…";
        chart.appendChild(note);
        card.appendChild(title);
        card.appendChild(chart);
        var after = Array.prototype.find.call(grid.children, function (other) {
          return other.querySelector(".key-chart").dataset.key > key;
        });
        grid.insertBefore(card, after || null);
        if (observer) { observer.observe(chart); } else { visible[key] = true; }
      });
    });
  }

  function onVisible(entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) { return; }
      var key = entry.target.dataset.key;
      observer.unobserve(entry.target);
      visible[key] = true;
      ready.then(function () { drawKey(entry.target, key); });
    });
  }

  // ---- drawing ----

  function xs(series) {
    if (controls.x === "step" || !series.times) { return series.points.map(function (p) { return p[0]; }); }
    if (controls.x === "wall") { return series.times.map(function (t) { return new Date(t * 1000).toISOString(); }); }
    var start = startTime();
    return series.times.map(function (t) { return t - start; });
  }

  // Relative time counts from the run's first logged point.
  function startTime() {
    var start = Infinity;
    Object.keys(held).forEach(function (key) {
      var times = held[key].times;
      if (times && times.length) { start = Math.min(start, times[0]); }
    });
    return isFinite(start) ? start : 0;
  }

  function xTitle(stepName) {
    return controls.x === "wall" ? "wall time" : controls.x === "relative" ? "seconds since the first point" : stepName;
  }

  // The raw series (faint when smoothed) and its EMA, for one key.
  function tracesOf(key, series, scale, name, color, percent) {
    var x = xs(series);
    var raw = series.points.map(function (p) { return p[1] * scale; });
    var smoothing = controls.beta > 0;
    var hover = "%{y:.4g}" + (percent ? " %" : "") + "<extra>" + key + "</extra>";
    var traces = [{
      x: x, y: raw, name: name, legendgroup: key, showlegend: !smoothing,
      mode: series.points.length > 40 || smoothing ? "lines" : "lines+markers",
      line: { color: color, width: smoothing ? 1 : 2 }, marker: { size: 5 }, opacity: smoothing ? 0.25 : 1,
      hovertemplate: smoothing ? "raw " + hover : hover, meta: { role: "raw", key: key }
    }];
    if (smoothing) {
      traces.push({
        x: x, y: math.ema(raw, controls.beta), name: name, legendgroup: key, mode: "lines",
        line: { color: color, width: 2 }, hovertemplate: "smoothed " + hover, meta: { role: "smoothed", key: key }
      });
    }
    return traces;
  }

  function baseLayout(stepName, percent, height) {
    var log = controls.log;
    return {
      margin: { l: 56, r: 16, t: 28, b: height > 300 ? 80 : 48 },
      height: height,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#222" },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      xaxis: {
        title: { text: xTitle(stepName) }, gridcolor: "#eef0f4", zeroline: false,
        type: controls.x === "wall" ? "date" : "linear", rangemode: controls.x === "wall" ? "normal" : "tozero"
      },
      yaxis: {
        gridcolor: "#eef0f4", zeroline: false, ticksuffix: percent ? " %" : "",
        type: log ? "log" : "linear", rangemode: log ? "normal" : "tozero"
      },
      legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top" },
      hovermode: "x unified"
    };
  }

  function showEmpty(element, text) {
    element.dataset.state = "empty";
    if (!element.querySelector(".chart-empty")) {
      var note = document.createElement("p");
      note.className = "chart-empty muted";
      element.appendChild(note);
    }
    element.querySelector(".chart-empty").textContent = text;
  }

  // A key logged once (a size, a parameter count, a latency) is a number, not a line: an axis around one
  // dot at its edge told nothing. It becomes a chart when a second point arrives.
  function showSingle(element, point, percent) {
    if (element.dataset.state === "drawn" && window.Plotly) { window.Plotly.purge(element); }
    element.dataset.state = "single";
    element.textContent = "";
    var value = document.createElement("p");
    value.className = "single-value";
    var v = percent ? point[1] * 100 : point[1];
    var text = Math.abs(v) >= 1e-3 && Math.abs(v) < 1e9 ? v.toLocaleString(undefined, { maximumSignificantDigits: 6 }) : v.toPrecision(4);
    value.textContent = percent ? text + " %" : text;
    var where = document.createElement("p");
    where.className = "muted small";
    where.textContent = "logged once, at step " + point[0];
    element.appendChild(value);
    element.appendChild(where);
  }

  function plot(element, traces, layout) {
    if (element.dataset.state === "single") { element.textContent = ""; }
    var empty = element.querySelector(".chart-empty");
    if (empty) { empty.remove(); }
    element.dataset.state = "drawn";
    element.dataset.x = controls.x;
    element.dataset.log = String(controls.log);
    element.dataset.beta = String(controls.beta);
    window.Plotly.react(element, traces, layout, { displaylogo: false, responsive: true });
  }

  function bestEpoch(series) {
    // The epoch with the lowest dev error (and its index), or null when dev error is not logged yet.
    if (!series || series.points.length === 0) { return null; }
    var best = 0;
    series.points.forEach(function (point, i) { if (point[1] < series.points[best][1]) { best = i; } });
    return { index: best, epoch: series.points[best][0], value: series.points[best][1], x: xs(series)[best] };
  }

  function formatValue(value, percent) {
    return percent ? (value * 100).toFixed(2) + " %" : value.toPrecision(4);
  }

  function drawCanonical(element, keys, percent, best) {
    var scale = percent ? 100 : 1;
    var traces = [];
    keys.forEach(function (key) {
      var series = held[key];
      if (!series || series.points.length === 0) { return; }
      traces = traces.concat(tracesOf(key, series, scale, LABELS[key] || key, COLORS[key], percent));
    });
    if (traces.length === 0) {
      showEmpty(element, run.active ? "No points yet: curves appear after the first epoch." : "No metrics were logged for this run.");
      return;
    }
    var layout = baseLayout("epoch", percent, 340);
    layout.shapes = [];
    layout.annotations = [];
    if (best) {
      layout.shapes.push({
        type: "line", xref: "x", yref: "paper", x0: best.x, x1: best.x, y0: 0, y1: 1,
        line: { color: "#e67e22", width: 1, dash: "dot" }
      });
      layout.annotations.push({
        xref: "x", yref: "paper", x: best.x, y: 1, yanchor: "bottom", showarrow: false,
        text: "best dev: " + formatValue(best.value, true) + " @ epoch " + best.epoch,
        font: { size: 11, color: "#a04e00" }
      });
      if (percent) {
        traces.push({
          x: [best.x], y: [best.value * scale], name: "best dev", mode: "markers",
          marker: { symbol: "star", size: 13, color: "#e67e22", line: { color: "#7a3c00", width: 1 } },
          hovertemplate: "best dev %{y:.3f} % at epoch " + best.epoch + "<extra></extra>"
        });
      }
    }
    var human = run.human_level_error;
    // A log axis cannot show a human-level error of 0.
    if (percent && human !== null && human !== undefined && !(controls.log && human <= 0)) {
      layout.shapes.push({
        type: "line", xref: "paper", yref: "y", x0: 0, x1: 1,
        y0: run.human_level_error * 100, y1: run.human_level_error * 100,
        line: { color: "#777", width: 1, dash: "dash" }
      });
      layout.annotations.push({
        xref: "paper", yref: "y", x: 1, xanchor: "right", y: run.human_level_error * 100, yanchor: "bottom",
        showarrow: false, text: "human-level", font: { size: 10, color: "#555" }
      });
    }
    plot(element, traces, layout);
  }

  function drawKey(element, key) {
    var series = held[key];
    if (!series && pending[key]) { return; } // still "Loading…": drawn when its read is in
    if (!series || series.points.length === 0) {
      showEmpty(element, run.active ? "No points yet." : "No points were read for this key.");
      return;
    }
    var percent = run.error_keys.indexOf(key) >= 0;
    if (series.points.length === 1) { showSingle(element, series.points[0], percent); return; }
    var layout = baseLayout("step", percent, 260);
    layout.showlegend = false;
    layout.margin.t = 8;
    plot(element, tracesOf(key, series, percent ? 100 : 1, key, "#2456d6", percent), layout);
  }

  function nextTask() { return new Promise(function (resolve) { window.setTimeout(resolve, 0); }); }

  // Every chart, or (`only` given) those that show one of the keys `only` lists; one chart per task, so
  // that the browser shows the first (of 200 keys x 2,000 points) before it has drawn the others.
  function drawCharts(only) {
    function wanted(keys) { return !only || keys.some(function (key) { return only.indexOf(key) >= 0; }); }
    if (!window.Plotly || !math) {
      document.querySelectorAll(".chart .chart-empty").forEach(function (note) {
        note.textContent = "The chart library did not load.";
      });
      return Promise.resolve();
    }
    var best = bestEpoch(held.dev_error);
    var jobs = [];
    document.querySelectorAll(".chart[data-keys]").forEach(function (chart) {
      if (!wanted(chart.dataset.keys.split(","))) { return; }
      jobs.push(function () {
        drawCanonical(chart, chart.dataset.keys.split(","), chart.dataset.percent === "true", best);
      });
    });
    document.querySelectorAll(".key-chart").forEach(function (chart) {
      if (visible[chart.dataset.key] && wanted([chart.dataset.key])) {
        jobs.push(function () { drawKey(chart, chart.dataset.key); });
      }
    });
    return jobs.reduce(function (done, job, i) {
      if (i === 0) { job(); return done; }
      return done.then(nextTask).then(job);
    }, Promise.resolve());
  }

  function refreshCharts(initial) {
    if (!initial) {
      buildPanels();
      return fetchNew(logged).then(function () { return drawCharts(); });
    }
    // The first answer draws every chart (those without points say so), each later one its own keys'.
    // The per-key panels (up to hundreds of cards, below the canonical charts) are built after those are
    // drawn: built first, every layout Plotly forces while drawing the first chart laid them out too. Their
    // charts are drawn as they scroll into view, from the answers that are in by then.
    var drawn = false;
    return fetchWhole(logged, function (keys) {
      return ready.then(function () {
        var first = !drawn;
        drawn = true;
        return drawCharts(first ? undefined : keys).then(function () {
          if (first) { buildPanels(); markFirstDrawn(); }
        });
      });
    }, run.first_read).then(function () { return ready; }).then(function () {
      if (!drawn) { buildPanels(); return drawCharts().then(markFirstDrawn); } // nothing logged: say so
    });
  }

  // ---- controls ----

  function bindControls() {
    var slider = document.getElementById("smoothing");
    var shown = document.getElementById("smoothing-value");
    var log = document.getElementById("log-y");
    var axis = document.getElementById("x-axis");
    if (!slider) { return; }
    slider.value = String(controls.beta);
    shown.textContent = controls.beta.toFixed(2);
    log.checked = controls.log;
    axis.value = controls.x;
    slider.addEventListener("input", function () {
      controls.beta = Math.min(run.max_beta, Math.max(0, Number(slider.value)));
      shown.textContent = controls.beta.toFixed(2);
      saveControls();
      drawCharts();
    });
    log.addEventListener("change", function () {
      controls.log = log.checked;
      saveControls();
      drawCharts();
    });
    axis.addEventListener("change", function () {
      controls.x = axis.value;
      saveControls();
      // Timestamps come only with with_time: read them once, then draw against them.
      var missing = logged.filter(function (key) { return held[key] && !held[key].times; });
      (timed() && missing.length ? fetchWhole(missing) : Promise.resolve()).then(function () { return drawCharts(); });
    });
  }

  // ---- live status ----

  function formatEta(seconds) {
    if (seconds === undefined || seconds === null) { return "—"; }
    var total = Math.round(seconds);
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    if (h) { return h + " h " + m + " min"; }
    if (m) { return m + " min " + s + " s"; }
    return s + " s";
  }

  function showSummary(summary) {
    document.querySelectorAll("[data-summary]").forEach(function (cell) {
      var value = summary[cell.dataset.summary];
      if (value === undefined || value === null) { return; }
      cell.textContent = /_error$/.test(cell.dataset.summary)
        ? (value * 100).toFixed(2) + " %" : Number(value.toPrecision(4)).toString();
    });
  }

  function showStatus(current) {
    showSummary(current.summary || {});
    document.querySelectorAll("[data-role=status]").forEach(function (badge) {
      badge.textContent = current.status;
      badge.className = "badge status-" + current.status;
    });
    var p = current.progress;
    var bar = document.getElementById("run-progress");
    var epoch = document.getElementById("run-epoch");
    if (p && p.epochs) {
      bar.max = p.epochs;
      bar.value = p.epoch;
      epoch.textContent = "epoch " + p.epoch + " / " + p.epochs;
    } else {
      epoch.textContent = current.status === "queued" ? "waiting for a worker…" : "starting…";
    }
    document.getElementById("run-eta").textContent = formatEta(p && p.eta_s);
    var speed = p && p.examples_per_sec;
    document.getElementById("run-speed").textContent =
      speed === undefined || speed === null ? "—" : Math.round(speed).toLocaleString();
  }

  function poll() {
    fetch(run.run_url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (current) {
        if (!current) { return null; }
        if (TERMINAL.indexOf(current.status) >= 0) {
          // The run ended: reload once for the final summary, error message and misclassified examples.
          window.location.reload();
          return "done";
        }
        showStatus(current);
        logged = Object.keys(current.summary || {}).sort();
        return refreshCharts();
      })
      .catch(function () { return null; })
      .then(function (result) { if (result !== "done") { window.setTimeout(poll, INTERVAL_MS); } });
  }

  bindControls();
  // The page's other charts (diagnosis.js: the error ladder, the learning curve over data size, further
  // down) wait for these: the first Plotly draw on a page pays Plotly's one-time set-up, which would
  // otherwise hold back the charts at the top. Drawn when the first answer is drawn, or after 3 s at most.
  window.TrainboardFirstCharts = Promise.race([
    firstChartsDrawn,
    new Promise(function (resolve) { window.setTimeout(resolve, 3000); })
  ]);
  refreshCharts(true).then(function () {
    if (run.active) { window.setTimeout(poll, INTERVAL_MS); }
  });
})();
