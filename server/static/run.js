// Run page: learning curves (Plotly, from the metrics API) and live status while the run is queued or running.
"use strict";

(function () {
  var dataElement = document.getElementById("run-data");
  if (!dataElement) { return; }
  var run = JSON.parse(dataElement.textContent);
  var INTERVAL_MS = 2000;
  var TERMINAL = ["succeeded", "failed", "diverged", "cancelled"];
  var COLORS = {
    train_error: "#2456d6", train_dev_error: "#8e44ad", dev_error: "#e67e22", test_error: "#1e8449",
    train_loss: "#2456d6", dev_loss: "#e67e22"
  };
  var LABELS = {
    train_error: "train", train_dev_error: "train-dev", dev_error: "dev", test_error: "test",
    train_loss: "train", dev_loss: "dev"
  };

  // The keys the run has logged (its summary holds one value for each): only those are asked for, so that
  // a chart's key the run does not log costs nothing on every poll.
  var logged = run.metric_keys || [];
  // What the charts show, per key: the reduced series as the server sent it, plus the points logged since.
  var held = {};

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function seriesUrl(keys, afterStep) {
    var url = run.series_url + "?keys=" + keys.map(encodeURIComponent).join(",") + "&max_points=" + run.max_points;
    return afterStep === undefined ? url : url + "&after_step=" + afterStep;
  }

  // Every key in one request, reduced by the server to at most max_points points each.
  function fetchWhole(keys) {
    if (keys.length === 0) { return Promise.resolve(); }
    return getJson(seriesUrl(keys)).then(function (answer) {
      if (!answer) { return; }
      answer.series.forEach(function (series) { held[series.key] = series; });
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
      if (!series || series.points.length === 0) { whole.push(key); return; }
      var last = series.points[series.points.length - 1][0];
      (byStep[last] = byStep[last] || []).push(key);
    });
    var requests = Object.keys(byStep).map(function (step) {
      return getJson(seriesUrl(byStep[step], step)).then(function (answer) {
        if (!answer) { return; }
        answer.series.forEach(function (update) {
          var series = held[update.key];
          series.points = series.points.concat(update.points);
          series.total_points += update.total_points;
          if (series.points.length > 2 * run.max_points) { whole.push(update.key); }
        });
      });
    });
    return Promise.all(requests).then(function () { return fetchWhole(whole); });
  }

  function chartKeys() {
    var keys = [];
    document.querySelectorAll(".chart[data-keys]").forEach(function (chart) {
      chart.dataset.keys.split(",").forEach(function (key) {
        if (logged.indexOf(key) >= 0 && keys.indexOf(key) < 0) { keys.push(key); }
      });
    });
    return keys;
  }

  function bestEpoch(series) {
    // The epoch with the lowest dev error, or null when dev error is not logged yet.
    if (!series || series.points.length === 0) { return null; }
    var best = series.points[0];
    series.points.forEach(function (point) { if (point[1] < best[1]) { best = point; } });
    return { epoch: best[0], value: best[1] };
  }

  function formatValue(value, percent) {
    return percent ? (value * 100).toFixed(2) + " %" : value.toPrecision(4);
  }

  function draw(element, keys, percent, seriesByKey, best) {
    var scale = percent ? 100 : 1;
    var traces = [];
    keys.forEach(function (key) {
      var series = seriesByKey[key];
      if (!series || series.points.length === 0) { return; }
      traces.push({
        x: series.points.map(function (p) { return p[0]; }),
        y: series.points.map(function (p) { return p[1] * scale; }),
        name: LABELS[key] || key,
        mode: series.points.length > 40 ? "lines" : "lines+markers",
        line: { color: COLORS[key], width: 2 },
        marker: { size: 5 },
        hovertemplate: "%{y:.3f}" + (percent ? " %" : "") + "<extra>" + key + "</extra>"
      });
    });
    if (traces.length === 0) {
      element.dataset.state = "empty";
      if (!element.querySelector(".chart-empty")) {
        var note = document.createElement("p");
        note.className = "chart-empty muted";
        element.appendChild(note);
      }
      element.querySelector(".chart-empty").textContent = run.active
        ? "No points yet: curves appear after the first epoch."
        : "No metrics were logged for this run.";
      return;
    }
    var empty = element.querySelector(".chart-empty");
    if (empty) { empty.remove(); }
    var shapes = [];
    var annotations = [];
    if (best) {
      shapes.push({
        type: "line", xref: "x", yref: "paper", x0: best.epoch, x1: best.epoch, y0: 0, y1: 1,
        line: { color: "#e67e22", width: 1, dash: "dot" }
      });
      annotations.push({
        xref: "x", yref: "paper", x: best.epoch, y: 1, yanchor: "bottom", showarrow: false,
        text: "best dev: " + formatValue(best.value, true) + " @ epoch " + best.epoch,
        font: { size: 11, color: "#a04e00" }
      });
      if (percent) {
        traces.push({
          x: [best.epoch], y: [best.value * scale], name: "best dev", mode: "markers",
          marker: { symbol: "star", size: 13, color: "#e67e22", line: { color: "#7a3c00", width: 1 } },
          hovertemplate: "best dev %{y:.3f} % at epoch %{x}<extra></extra>"
        });
      }
    }
    if (percent && run.human_level_error !== null && run.human_level_error !== undefined) {
      shapes.push({
        type: "line", xref: "paper", yref: "y", x0: 0, x1: 1,
        y0: run.human_level_error * 100, y1: run.human_level_error * 100,
        line: { color: "#777", width: 1, dash: "dash" }
      });
      annotations.push({
        xref: "paper", yref: "y", x: 1, xanchor: "right", y: run.human_level_error * 100, yanchor: "bottom",
        showarrow: false, text: "human-level", font: { size: 10, color: "#555" }
      });
    }
    var layout = {
      margin: { l: 56, r: 16, t: 28, b: 80 },
      height: 340,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#222" },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      xaxis: { title: { text: "epoch" }, gridcolor: "#eef0f4", zeroline: false, rangemode: "tozero" },
      yaxis: { gridcolor: "#eef0f4", zeroline: false, ticksuffix: percent ? " %" : "", rangemode: "tozero" },
      legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top" },
      hovermode: "x unified",
      shapes: shapes,
      annotations: annotations
    };
    element.dataset.state = "drawn";
    window.Plotly.react(element, traces, layout, { displaylogo: false, responsive: true });
  }

  function drawCharts() {
    var charts = Array.prototype.slice.call(document.querySelectorAll(".chart[data-keys]"));
    var best = bestEpoch(held.dev_error);
    charts.forEach(function (chart) {
      if (!window.Plotly) {
        chart.querySelector(".chart-empty").textContent = "The chart library did not load.";
        return;
      }
      draw(chart, chart.dataset.keys.split(","), chart.dataset.percent === "true", held, best);
    });
  }

  function refreshCharts(initial) {
    return (initial ? fetchWhole(chartKeys()) : fetchNew(chartKeys())).then(drawCharts);
  }

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
        logged = Object.keys(current.summary || {});
        return refreshCharts();
      })
      .catch(function () { return null; })
      .then(function (result) { if (result !== "done") { window.setTimeout(poll, INTERVAL_MS); } });
  }

  refreshCharts(true).then(function () {
    if (run.active) { window.setTimeout(poll, INTERVAL_MS); }
  });
})();
