// Compare page: colour swatches, and any logged key overlaid for every run (one colour per run), read in one
// request per key picked; smoothing (chart_math.js's EMA), log-scale y, and seed groups drawn as a mean line
// with a band of +/- one standard deviation (chart_math.js's band).
"use strict";

(function () {
  var dataElement = document.getElementById("compare-data");
  if (!dataElement) { return; }
  var page = JSON.parse(dataElement.textContent);
  var math = window.TrainboardMath;
  var MAX_POINTS = 2000;

  document.querySelectorAll(".swatch[data-color]").forEach(function (swatch) {
    swatch.style.backgroundColor = swatch.dataset.color;
  });

  var chart = document.getElementById("compare-chart");
  var picker = document.getElementById("compare-key");
  var slider = document.getElementById("smoothing");
  var shown = document.getElementById("smoothing-value");
  var log = document.getElementById("log-y");
  var bands = document.getElementById("group-bands");
  var legendNote = document.getElementById("compare-legend-note");
  var cache = {}; // picker value -> { "run/key": series }

  // Every run's series of the picked keys in one request, each reduced by the server.
  function fetchKeys(value) {
    if (cache[value]) { return Promise.resolve(cache[value]); }
    var ids = page.runs.map(function (run) { return run.id; }).join(",");
    var url = page.series_url + "?run_ids=" + ids + "&keys=" + value.split(",").map(encodeURIComponent).join(",") +
      "&max_points=" + MAX_POINTS;
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; })
      .then(function (answer) {
        if (!answer) { return null; }
        var found = {};
        answer.series.forEach(function (series) { found[series.run_id + "/" + series.key] = series; });
        cache[value] = found;
        return found;
      });
  }

  function isPercent(key) { return page.error_keys.indexOf(key) >= 0; }

  function values(series, scale) {
    var raw = series.points.map(function (p) { return p[1] * scale; });
    return Number(slider.value) > 0 ? math.ema(raw, Number(slider.value)) : raw;
  }

  function lineTrace(run, series, key, pair, scale) {
    var dotted = pair && key !== "dev_error";
    var name = window.Trainboard.plotText(run.name) + (pair ? (dotted ? " train" : " dev") : "");
    return {
      x: series.points.map(function (p) { return p[0]; }), y: values(series, scale),
      name: name, legendgroup: String(run.id), showlegend: !dotted,
      mode: series.points.length > 40 ? "lines" : "lines+markers",
      line: { color: run.color, width: dotted ? 1.5 : 2.5, dash: dotted ? "dot" : "solid" },
      marker: { size: dotted ? 3 : 5 },
      hovertemplate: "%{y:.4g}" + (scale === 100 ? " %" : "") + "<extra>%{fullData.name}</extra>",
      meta: { role: "run", run: run.id, key: key }
    };
  }

  function fade(color) {
    var hex = color.replace("#", "");
    var n = parseInt(hex.length === 3 ? hex.replace(/(.)/g, "$1$1") : hex, 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + ",0.18)";
  }

  // A seed group: its runs' (smoothed) series -> mean line and a band of +/- one std.
  function groupTraces(group, runs, found, key, scale, dotted) {
    var series = [];
    runs.forEach(function (run) {
      var s = found[run.id + "/" + key];
      if (!s || !s.points.length) { return; }
      var y = values(s, scale);
      series.push(s.points.map(function (p, i) { return [p[0], y[i]]; }));
    });
    if (series.length === 0) { return []; }
    var b = math.band(series);
    var color = runs[0].color;
    var label = window.Trainboard.plotText(group) + " (" + series.length + " seeds)" + (dotted ? " train" : "");
    var upper = b.mean.map(function (m, i) { return m + b.std[i]; });
    var lower = b.mean.map(function (m, i) { return m - b.std[i]; });
    var meta = { role: "band", group: group, key: key };
    return [
      { x: b.steps, y: upper, mode: "lines", line: { width: 0, color: color }, showlegend: false, hoverinfo: "skip", legendgroup: "g:" + group, meta: meta },
      { x: b.steps, y: lower, mode: "lines", line: { width: 0, color: color }, fill: "tonexty", fillcolor: fade(color), showlegend: false, hoverinfo: "skip", legendgroup: "g:" + group, meta: meta },
      {
        x: b.steps, y: b.mean, name: label, legendgroup: "g:" + group, showlegend: !dotted, mode: "lines",
        line: { color: color, width: dotted ? 1.5 : 2.5, dash: dotted ? "dot" : "solid" },
        customdata: b.std.map(function (s, i) { return [s, b.n[i]]; }),
        hovertemplate: "%{y:.4g} ± %{customdata[0]:.2g} (n=%{customdata[1]})<extra>" + label + "</extra>",
        meta: { role: "mean", group: group, key: key }
      }
    ];
  }

  function draw() {
    var value = picker.value;
    var keys = value.split(",");
    var pair = keys.length > 1;
    chart.dataset.state = "loading";
    return fetchKeys(value).then(function (found) {
      if (value !== picker.value) { return; } // another key was picked meanwhile
      found = found || {};
      var percent = keys.every(isPercent);
      var scale = percent ? 100 : 1;
      var grouped = bands && bands.checked;
      var members = {};
      if (grouped) {
        page.runs.forEach(function (run) { if (run.group) { (members[run.group] = members[run.group] || []).push(run); } });
        Object.keys(members).forEach(function (g) { if (members[g].length < 2) { delete members[g]; } });
      }
      var traces = [];
      var done = {};
      page.runs.forEach(function (run) {
        if (grouped && members[run.group]) {
          if (done[run.group]) { return; }
          done[run.group] = true;
          keys.forEach(function (key) {
            traces = traces.concat(groupTraces(run.group, members[run.group], found, key, scale, pair && key !== "dev_error"));
          });
          return;
        }
        keys.forEach(function (key) {
          var series = found[run.id + "/" + key];
          if (series && series.points.length) { traces.push(lineTrace(run, series, key, pair, scale)); }
        });
      });
      var note = chart.querySelector(".chart-empty");
      if (!window.Plotly || !math || traces.length === 0) {
        if (window.Plotly) { window.Plotly.purge(chart); }
        if (!note) {
          note = document.createElement("p");
          note.className = "chart-empty muted";
          chart.appendChild(note);
        }
        note.textContent = !window.Plotly || !math ? "The chart library did not load."
          : pair ? "None of these runs logged errors per epoch." : "None of these runs logged " + value + ".";
        chart.dataset.state = "empty";
        return;
      }
      if (note) { note.remove(); }
      legendNote.textContent = (pair ? "Solid: dev error; dotted: train error. " : "") + "One colour per run" +
        (grouped ? "; a seed group is its mean with a band of ± one standard deviation." : ".");
      chart.dataset.state = "drawn";
      chart.dataset.key = value;
      window.Plotly.react(chart, traces, {
        height: 360, margin: { l: 56, r: 16, t: 12, b: 80 },
        font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#222" },
        paper_bgcolor: "#fff", plot_bgcolor: "#fff", hovermode: "x unified",
        xaxis: { title: { text: pair ? "epoch" : "step" }, gridcolor: "#eef0f4", rangemode: "tozero" },
        yaxis: {
          ticksuffix: percent ? " %" : "", gridcolor: "#eef0f4",
          type: log.checked ? "log" : "linear", rangemode: log.checked ? "normal" : "tozero"
        },
        legend: { orientation: "h", x: 0, y: -0.25, yanchor: "top" }
      }, { displaylogo: false, responsive: true });
    });
  }

  // Runs of one's own script may log no canonical errors: then show the first key they did log.
  if (page.metric_keys.indexOf("dev_error") < 0 && page.metric_keys.indexOf("train_error") < 0 && page.metric_keys.length) {
    picker.value = page.metric_keys[0];
  }
  // A link may ask for the seed groups' bands (/compare?runs=...&bands=1) or a key (&key=val/acc).
  var query = new URLSearchParams(window.location.search);
  if (bands && query.get("bands") === "1" && !document.getElementById("bands-toggle").hidden) { bands.checked = true; }
  var asked = query.get("key");
  if (asked && page.metric_keys.indexOf(asked) >= 0) { picker.value = asked; }
  picker.addEventListener("change", draw);
  slider.addEventListener("input", function () { shown.textContent = Number(slider.value).toFixed(2); draw(); });
  log.addEventListener("change", draw);
  if (bands) { bands.addEventListener("change", draw); }
  draw();
})();
