"""The run page of a run with 200 keys x 10,000 steps, timed on a real `trainboard serve` process (issue 19,
"Speed": "< 300 ms to first chart").

The run's points go through the REST API (so the rollups its charts are read from are built the way
production builds them). Then, median of `--repeats`:

(a) GET /runs/{id}: wall time and the server process's CPU time per request;
(b) the first series read the page makes: the URL run.js builds for its first chart(s), as chromium
    asked for it in (c) (the same on every visit);
(c) in headless Debian chromium (Playwright): milliseconds from navigation start to the first chart
    element (`#error-chart`, `#loss-chart` or a `.key-chart`) getting data-state="drawn", read in the page
    by a MutationObserver (its callback runs after the synchronous Plotly draw), with the page's timeline:
    HTML received, Plotly parsed, first series read sent and received. "cold" is a new browser context
    (nothing cached), "second" and "third" the next visits in the same context (plotly.min.js from the
    HTTP cache; on the third also compiled, from V8's code cache).

Wall times are noisy on a shared machine; server CPU time is what other processes' load inflates least.

    .venv/bin/python bench/run_page.py [--backend sqlite|postgresql] [--keys 200] [--steps 10000]
        [--repeats 7]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402
from bench.scale import cpu_seconds  # noqa: E402

DEBUG = False
# A new browser context (nothing cached); its second visit (plotly.min.js revalidated from the HTTP cache);
# its third (and V8's code cache of plotly.min.js, which chromium keeps from a script's second load on).
VISITS = ("cold", "second", "third")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CANONICAL = ["train_error", "train_dev_error", "dev_error", "test_error", "train_loss", "dev_loss"]

DRAWN = ", ".join(f'{c}[data-state="drawn"]' for c in ("#error-chart", "#loss-chart", ".key-chart"))
# Runs before any page script: the time (performance.now(), from navigation start) each chart first gets
# data-state="drawn", and when the page's first series request went out and came back.
TIMING_SCRIPT = """
window.__bench = {drawn: {}};
new MutationObserver(function (records) {
  records.forEach(function (r) {
    var el = r.target;
    var chart = el.id === "error-chart" || el.id === "loss-chart"
      || (el.classList && el.classList.contains("key-chart"));
    if (chart && el.dataset.state === "drawn") {
      var name = el.id || el.dataset.key;
      if (!(name in window.__bench.drawn)) { window.__bench.drawn[name] = performance.now(); }
      if (window.__bench.first === undefined) {
        window.__bench.first = performance.now();
        window.__bench.firstChart = name;
      }
    }
  });
}).observe(document, {attributes: true, attributeFilter: ["data-state"], subtree: true});
"""
TIMELINE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const plotly = res.find(r => r.name.includes("plotly"));
  const series = res.filter(r => r.name.includes("/metrics?"));
  return {
    html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
    plotly: plotly ? plotly.responseEnd : null,
    reads: series.map(r => [r.startTime, r.responseEnd, r.encodedBodySize]),
    first: window.__bench.first, firstChart: window.__bench.firstChart,
  };
}"""


def bench_keys(n: int) -> list[str]:
    """The canonical errors and losses, a learning rate, then per-layer and system keys in panels."""
    keys = [*CANONICAL, "lr"]
    layers = (n - len(keys) - 10) // 2
    keys += [f"grad_norm/layer_{i:03d}" for i in range(layers)]
    keys += [f"weight_norm/layer_{i:03d}" for i in range(n - len(keys) - 10)]
    keys += [f"system/gpu_{i}" for i in range(10)]
    return keys[:n]


def post_points(http: httpx.Client, run_id: int, keys: list[str], steps: int, batch: int = 20_000) -> float:
    """Log `steps` points of each key through the REST API in `batch`-point requests (as
    _harness.post_series, with values in [0, 1] so that the error keys are accepted); points per second."""
    rng = np.random.default_rng(0)
    start, per_batch = time.perf_counter(), max(batch // len(keys), 1)
    for first in range(0, steps, per_batch):
        last = min(first + per_batch, steps)
        noise = np.abs(rng.normal(0, 0.01, (last - first) * len(keys))).tolist()
        points = ",".join(
            f'{{"key":"{k}","step":{s},"value":{0.9 / (1 + s / 1000) + noise[i * len(keys) + j]!r}}}'
            for i, s in enumerate(range(first, last))
            for j, k in enumerate(keys)
        )
        http.post(
            f"/api/v1/runs/{run_id}/metrics",
            content=f'{{"metrics":[{points}]}}'.encode(),
            headers={"content-type": "application/json"},
        ).raise_for_status()
    return steps * len(keys) / (time.perf_counter() - start)


def server_times(
    http: httpx.Client, pid: int, path: str, repeats: int
) -> tuple[list[float], list[float], int]:
    """Wall and server CPU seconds of each of `repeats` GETs (after one untimed), and the payload bytes."""
    http.get(path).raise_for_status()
    walls, cpus, size = [], [], 0
    for _ in range(repeats):
        cpu, start = cpu_seconds(pid), time.perf_counter()
        response = http.get(path)
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds(pid) - cpu)
        response.raise_for_status()
        size = len(response.content)
    return walls, cpus, size


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


def browser_times(url: str, repeats: int) -> tuple[dict[str, list[dict]], str]:  # type: ignore[type-arg]
    """Timelines of `repeats` cold and warm visits (after one of each untimed), and the path of the first
    series read the page made (the same on every visit)."""
    from playwright.sync_api import sync_playwright

    expected_first = ""

    found: dict[str, list[dict]] = {visit: [] for visit in VISITS}  # type: ignore[type-arg]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(repeats + 1):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(TIMING_SCRIPT)
            page = context.new_page()
            requests: list[str] = []
            page.on(
                "request", lambda r, asked=requests: asked.append(r.url) if "/metrics?" in r.url else None
            )
            for visit in VISITS:
                requests.clear()
                page.goto(url)
                page.wait_for_selector(DRAWN, state="attached", timeout=60_000)
                timeline = page.evaluate(TIMELINE)
                # The rest of the page's reads end before the next visit, which they would slow down.
                page.wait_for_load_state("networkidle")
                if DEBUG:
                    print(visit, json.dumps(timeline), requests[:1])
                expected_first = expected_first or requests[0]
                if requests[0] != expected_first:
                    raise AssertionError(
                        f"the first read changed: {requests[0][:200]}, not {expected_first[:200]}"
                    )
                if i > 0:  # the first round warms the server and chromium up
                    found[visit].append(timeline)
            context.close()
        browser.close()
    return found, expected_first[expected_first.index("/api/") :]


def median_of(rounds: list[dict], pick) -> str:  # type: ignore[no-untyped-def,type-arg]
    """The median of `pick(timeline)` over the rounds, in whole milliseconds."""
    values = [pick(t) for t in rounds if pick(t) is not None]
    return f"{statistics.median(values):.0f}" if values else "-"


def print_browser(found: dict[str, list[dict]]) -> None:  # type: ignore[type-arg]
    for visit, rounds in found.items():
        med = functools.partial(median_of, rounds)
        print(
            f"(c) browser, {visit}: first chart drawn at {med(lambda t: t['first'])} ms "
            f"(min {min(t['first'] for t in rounds):.0f}; first: {rounds[0]['firstChart']}); "
            f"HTML in {med(lambda t: t['html'])}, plotly.min.js in {med(lambda t: t['plotly'])}, "
            f"DOMContentLoaded {med(lambda t: t['dcl'])}, "
            f"first series read sent {med(lambda t: t['reads'][0][0])} "
            f"and in {med(lambda t: t['reads'][0][1])} ({rounds[0]['reads'][0][2] / 1024:.0f} KiB); "
            f"{len(rounds[0]['reads'])} reads by then"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {h.machine()}; backend: {args.backend}")
    work = h.workdir()
    with (
        h.backend(args.backend, work, "page") as db,
        h.our_server(db.url, work / "home", work / "server.log") as server,
    ):
        http = httpx.Client(base_url=server.url, timeout=600)
        project = http.post("/api/v1/projects", json={"name": "page", "dataset": "external"}).json()["id"]
        run = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
        keys = bench_keys(args.keys)
        start = time.perf_counter()
        rate = post_points(http, run, keys, args.steps)
        http.post(f"/api/v1/runs/{run}/finish", json={"status": "succeeded"}).raise_for_status()
        took = time.perf_counter() - start
        print(f"ingest {args.keys} keys x {args.steps:,} steps: {took:.0f} s ({rate:,.0f} pts/s)")

        walls, cpus, size = server_times(http, server.pid, f"/runs/{run}", args.repeats)
        print(f"(a) GET /runs/{run}: {ms(walls)}, server CPU {ms(cpus)}, {size / 1024:.0f} KiB")
        found, first = browser_times(f"{server.url}/runs/{run}", args.repeats)
        walls, cpus, size = server_times(http, server.pid, first, args.repeats)
        n_keys = first.split("keys=")[1].split("&")[0].count(",") + 1
        kib = size / 1024
        print(f"(b) first series read ({n_keys} keys): {ms(walls)}, server CPU {ms(cpus)}, {kib:.0f} KiB")
        print_browser(found)


if __name__ == "__main__":
    main()
