// Error ladders (bars per split, the gaps labelled between them, the dominant gap highlighted) and the
// learning curve over data size. Data comes from <script type="application/json"> blocks named by data-source.
"use strict";

(function () {
  var COLORS = {
    human_level_error: "#8a94a6", train_error: "#2456d6", train_dev_error: "#8e44ad",
    dev_error: "#e67e22", test_error: "#1e8449"
  };
  var GAP_COLOR = "#5f6b7a";
  var DOMINANT_COLOR = "#c0392b";
  var NOISE_COLOR = "#a7b0bd";
  var FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#222" };

  function readData(element) {
    var source = document.getElementById(element.dataset.source);
    return source ? JSON.parse(source.textContent) : null;
  }

  function showNote(element, text) {
    element.dataset.state = "empty";
    var note = element.querySelector(".chart-empty");
    if (!note) {
      note = document.createElement("p");
      note.className = "chart-empty muted";
      element.appendChild(note);
    }
    note.textContent = text;
  }

  function points(value) { return (value >= 0 ? "+" : "") + (value * 100).toFixed(1) + " pts"; }

  function gapText(gap) {
    // "+3.7 ± 2.4 pts", and "(noise)" when the interval explains the gap (the diagnosis decided, not this code).
    var text = points(gap.value);
    if (gap.margin !== null && gap.margin !== undefined) {
      text = text.replace(" pts", " ± " + (gap.margin * 100).toFixed(1) + " pts");
    }
    return gap.significant === false ? text + "<br>(noise)" : text;
  }

  function gapMarks(gap, index, heights, top) {
    // A vertical arrow between the two bars, from the lower rung to the higher, with the gap's name and size.
    var from = index[gap.low], to = index[gap.high];
    var x = (from + to) / 2;
    var y0 = heights[gap.low], y1 = heights[gap.high];
    var color = gap.primary ? DOMINANT_COLOR : (gap.significant === false ? NOISE_COLOR : GAP_COLOR);
    var width = gap.primary ? 3 : 1.5;
    var shapes = [
      { type: "line", x0: from + 0.32, x1: x, y0: y0, y1: y0, line: { color: color, width: 1, dash: "dot" } },
      { type: "line", x0: x, x1: to - 0.32, y0: y1, y1: y1, line: { color: color, width: 1, dash: "dot" } }
    ];
    var annotations = [
      {
        x: x, y: y1, ax: x, ay: y0, xref: "x", yref: "y", axref: "x", ayref: "y", text: "",
        showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: width, arrowcolor: color
      },
      {
        x: x, y: Math.max(y0, y1) + top * 0.04, yanchor: "bottom", showarrow: false,
        text: (gap.primary ? "<b>" : "") + gap.label.replace(" ", "<br>") + "<br>" + gapText(gap) +
          (gap.primary ? "</b>" : ""),
        font: { size: 11, color: color }, bgcolor: gap.primary ? "#fdecea" : "rgba(255,255,255,0.85)",
        bordercolor: gap.primary ? DOMINANT_COLOR : "rgba(0,0,0,0)", borderpad: 3
      }
    ];
    return { shapes: shapes, annotations: annotations };
  }

  function drawLadder(element) {
    var data = readData(element);
    if (!data) { return; }
    var rungs = data.rungs.filter(function (r) { return r.value !== null; });
    if (rungs.length === 0) { showNote(element, "No error rates logged yet."); return; }
    var index = {}, heights = {}, top = 0;
    rungs.forEach(function (r, i) {
      index[r.key] = i;
      heights[r.key] = r.value * 100;
      top = Math.max(top, (r.value + (r.margin || 0)) * 100);
    });
    top = top || 1;
    var trace = {
      type: "bar",
      // The value sits under its bar, not on it, where the interval's whisker would cross it.
      x: rungs.map(function (r) { return r.label + "<br><b>" + (r.value * 100).toFixed(2) + " %</b>"; }),
      y: rungs.map(function (r) { return r.value * 100; }),
      marker: { color: rungs.map(function (r) { return COLORS[r.key]; }) },
      cliponaxis: false,
      width: 0.6, hovertemplate: "%{y:.2f} %<extra></extra>",
      // Each rung's 95 % interval from the size of its split (none for human level, or an unknown size).
      error_y: {
        type: "data", visible: true, color: "#39424e", thickness: 1.2, width: 6,
        array: rungs.map(function (r) { return (r.margin || 0) * 100; })
      }
    };
    var shapes = [], annotations = [];
    data.gaps.forEach(function (gap) {
      if (gap.value === null || !(gap.low in index) || !(gap.high in index)) { return; }
      var marks = gapMarks(gap, index, heights, top);
      shapes = shapes.concat(marks.shapes);
      annotations = annotations.concat(marks.annotations);
    });
    var compact = element.classList.contains("compact");
    var layout = {
      height: compact ? 270 : 330, margin: { l: 52, r: 12, t: 12, b: 48 }, font: FONT,
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", showlegend: false, bargap: 0.4,
      xaxis: { type: "category", fixedrange: true },
      yaxis: { ticksuffix: " %", rangemode: "tozero", range: [0, top * 1.45], gridcolor: "#eef0f4", fixedrange: true },
      shapes: shapes, annotations: annotations
    };
    var empty = element.querySelector(".chart-empty");
    if (empty) { empty.remove(); }
    element.dataset.state = "drawn";
    window.Plotly.newPlot(element, [trace], layout, { displayModeBar: false, responsive: true });
  }

  function drawDataSize(element) {
    var data = readData(element);
    if (!data) { return; }
    var known = data.points.filter(function (p) { return p.train_error !== null || p.dev_error !== null; });
    if (known.length === 0) {
      showNote(element, "No errors logged yet: the curve appears as the runs finish.");
      return;
    }
    function trace(key, name, points, dash) {
      var shown = (points || data.points).filter(function (p) { return p[key] !== null; });
      return {
        x: shown.map(function (p) { return p.train_examples; }),
        y: shown.map(function (p) { return p[key] * 100; }),
        name: name, mode: "lines+markers", line: { color: COLORS[key], width: 2, dash: dash || "solid" },
        marker: { size: 7, symbol: dash ? "circle-open" : "circle" },
        hovertemplate: "%{x} examples: %{y:.2f} %<extra>" + name + "</extra>"
      };
    }
    // A fine-tuned run's curve also has the same config from scratch: dashed, in the same colours.
    var scratch = data.scratch_points || [];
    var traces = scratch.length
      ? [trace("train_error", "train error, fine-tuned"), trace("dev_error", "dev error, fine-tuned"),
         trace("train_error", "train error, from scratch", scratch, "dash"),
         trace("dev_error", "dev error, from scratch", scratch, "dash")]
      : [trace("train_error", "train error"), trace("dev_error", "dev error")];
    var layout = {
      height: 300, margin: { l: 52, r: 12, t: 12, b: 70 }, font: FONT, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      xaxis: { title: { text: "training examples" }, rangemode: "tozero", gridcolor: "#eef0f4" },
      yaxis: { ticksuffix: " %", rangemode: "tozero", gridcolor: "#eef0f4" },
      legend: { orientation: "h", x: 0, y: -0.28, yanchor: "top" }
    };
    var empty = element.querySelector(".chart-empty");
    if (empty) { empty.remove(); }
    element.dataset.state = "drawn";
    window.Plotly.newPlot(element, traces, layout, { displaylogo: false, responsive: true });
  }

  function drawAll() {
    var ladders = document.querySelectorAll(".ladder-chart[data-source]");
    var curves = document.querySelectorAll(".data-size-chart[data-source]");
    if (!window.Plotly) {
      Array.prototype.forEach.call(ladders, function (e) { showNote(e, "The chart library did not load."); });
      Array.prototype.forEach.call(curves, function (e) { showNote(e, "The chart library did not load."); });
      return;
    }
    Array.prototype.forEach.call(ladders, drawLadder);
    Array.prototype.forEach.call(curves, drawDataSize);
  }

  // On the run page, after the charts at its top (run.js sets the promise; it runs before this script).
  if (window.TrainboardFirstCharts) { window.TrainboardFirstCharts.then(drawAll); } else { drawAll(); }
})();
