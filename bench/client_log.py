"""What `run.log` costs a training loop, and that it never waits for the server.

A script logs `--steps` steps of four metrics each, as fast as it can, through the client library's `Run`
(online: buffered, sent in batches from a background thread) to an in-process stand-in for the server
(httpx.MockTransport) that takes `--latency-ms` to answer each request, or to an offline run (points appended
to a file in the spool folder) or a disabled one. It prints each `log` call's time: median, 99th percentile
and the worst, which is what a training step would wait for. The server's own work is not counted.

    .venv/bin/python bench/client_log.py [--steps 20000] [--latency-ms 200] [--mode online|offline|disabled]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from trainboard.client import Client, Run


def slow_server(latency_s: float) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(latency_s)
        if request.url.path.endswith("/metrics"):
            return httpx.Response(200, json={"accepted": len(json.loads(request.content)["metrics"])})
        return httpx.Response(200, json={"id": 1, "status": "succeeded"})

    return httpx.MockTransport(answer)


def make_run(mode: str, latency_s: float, spool: Path) -> object:
    if mode == "online":
        client = Client("http://bench.test", token="", transport=slow_server(latency_s))
        return Run(client, {"id": 1}, spool_dir=spool, heartbeat_interval_s=None)
    from trainboard.client import DisabledRun, OfflineRun

    if mode == "offline":
        return OfflineRun({"id": "bench", "project": "bench", "params": {}}, spool)
    return DisabledRun(name="bench", params={})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--mode", choices=("online", "offline", "disabled"), default="online")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as spool:
        run = make_run(args.mode, args.latency_ms / 1000, Path(spool))
        calls = []
        started = time.perf_counter()
        for step in range(1, args.steps + 1):
            before = time.perf_counter()
            run.log({"train_loss": 1 / step, "train_error": 0.5 / step, "lr": 0.001, "grad_norm": 2.0})  # type: ignore[attr-defined]
            calls.append(time.perf_counter() - before)
        logging_s = time.perf_counter() - started
        run.finish()  # type: ignore[attr-defined]
    us = sorted(c * 1e6 for c in calls)
    print(
        f"{args.mode}, server answering in {args.latency_ms:g} ms: {args.steps} log calls of 4 metrics in "
        f"{logging_s:.2f} s; per call median {statistics.median(us):.1f} us, "
        f"p99 {us[int(len(us) * 0.99)]:.1f} us, worst {us[-1] / 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
