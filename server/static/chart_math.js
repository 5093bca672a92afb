// The charts' maths in the browser: the one JavaScript copy of server/chart_math.py (see there), pinned to
// it by tests/server/test_chart_math.py. Pure: no DOM. window.TrainboardMath in a page, module.exports in node.
"use strict";

(function (root) {
  var MAX_BETA = 0.999;

  // Exponentially weighted moving average with bias correction: v_t / (1 - beta^t).
  function ema(values, beta) {
    if (!(beta >= 0 && beta <= MAX_BETA)) { throw new RangeError("beta must be in [0, " + MAX_BETA + "]"); }
    var smoothed = [];
    var average = 0, weight = 0;
    for (var i = 0; i < values.length; i++) {
      var value = values[i];
      if (!isFinite(value)) { smoothed.push(value); continue; }
      average = beta * average + (1 - beta) * value;
      weight = beta * weight + (1 - beta);
      smoothed.push(average / weight);
    }
    return smoothed;
  }

  // Neumaier summation, as close to Python's math.fsum as the contract test needs.
  function sum(values) {
    var total = 0, compensation = 0;
    values.forEach(function (v) {
      var t = total + v;
      compensation += Math.abs(total) >= Math.abs(v) ? (total - t) + v : (v - t) + total;
      total = t;
    });
    return total + compensation;
  }

  // Mean +/- sample std of several series ([[step, value], ...] each), step by step.
  function band(series) {
    var values = {};
    series.forEach(function (points) {
      points.forEach(function (point) {
        if (!isFinite(point[1])) { return; }
        (values[point[0]] = values[point[0]] || []).push(point[1]);
      });
    });
    var steps = Object.keys(values).map(Number).sort(function (a, b) { return a - b; });
    var result = { steps: steps, mean: [], std: [], n: [] };
    steps.forEach(function (step) {
      var found = values[step];
      var mean = sum(found) / found.length;
      var variance = found.length > 1
        ? sum(found.map(function (v) { return (v - mean) * (v - mean); })) / (found.length - 1) : 0;
      result.mean.push(mean);
      result.std.push(Math.sqrt(variance));
      result.n.push(found.length);
    });
    return result;
  }

  var api = { MAX_BETA: MAX_BETA, ema: ema, band: band };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; } else { root.TrainboardMath = api; }
})(this);
