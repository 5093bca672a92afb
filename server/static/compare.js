// Compare page: colour swatches, and dev (solid) and train (dotted) error per epoch overlaid, one colour per run.
"use strict";

(function () {
  var dataElement = document.getElementById("compare-data");
  if (!dataElement) { return; }
  var page = JSON.parse(dataElement.textContent);

  document.querySelectorAll(".swatch[data-color]").forEach(function (swatch) {
    swatch.style.backgroundColor = swatch.dataset.color;
  });

  // Every run's dev and train error in one request, each reduced by the server to at most 2,000 points.
  function fetchAll() {
    var ids = page.runs.map(function (run) { return run.id; }).join(",");
    var url = page.series_url + "?run_ids=" + ids + "&keys=dev_error,train_error&max_points=2000";
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function trace(run, series, key) {
    var dev = key === "dev_error";
    var name = window.Trainboard.plotText(run.name);
    return {
      x: series.points.map(function (p) { return p[0]; }),
      y: series.points.map(function (p) { return p[1] * 100; }),
      name: name + (dev ? " dev" : " train"), legendgroup: String(run.id), showlegend: dev,
      mode: series.points.length > 40 ? "lines" : "lines+markers",
      line: { color: run.color, width: dev ? 2.5 : 1.5, dash: dev ? "solid" : "dot" }, marker: { size: dev ? 5 : 3 },
      hovertemplate: "%{y:.2f} %<extra>%{fullData.name}</extra>"
    };
  }

  var chart = document.getElementById("compare-chart");
  fetchAll().then(function (answer) {
    var found = {};
    ((answer && answer.series) || []).forEach(function (series) {
      found[series.run_id + "/" + series.key] = series;
    });
    var traces = [];
    page.runs.forEach(function (run) {
      var dev = found[run.id + "/dev_error"], train = found[run.id + "/train_error"];
      if (dev && dev.points.length) { traces.push(trace(run, dev, "dev_error")); }
      if (train && train.points.length) { traces.push(trace(run, train, "train_error")); }
    });
    var note = chart.querySelector(".chart-empty");
    if (!window.Plotly || traces.length === 0) {
      note.textContent = window.Plotly ? "None of these runs logged errors per epoch." : "The chart library did not load.";
      return;
    }
    note.remove();
    chart.dataset.state = "drawn";
    window.Plotly.newPlot(chart, traces, {
      height: 360, margin: { l: 56, r: 16, t: 12, b: 80 },
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#222" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", hovermode: "x unified",
      xaxis: { title: { text: "epoch" }, gridcolor: "#eef0f4", rangemode: "tozero" },
      yaxis: { ticksuffix: " %", gridcolor: "#eef0f4", rangemode: "tozero" },
      legend: { orientation: "h", x: 0, y: -0.25, yanchor: "top" }
    }, { displaylogo: false, responsive: true });
  });
})();
