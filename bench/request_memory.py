"""What issue 21's small requests that cost large took from a real `trainboard serve` process.

Each case gets a fresh server (so its peak starts clean) and one request; printed: the status, the answer's
first words, the bytes sent, the seconds it took and the server's peak resident memory (VmHWM) less its
resident memory just before the request. The cases:

- npz: an upload whose X is int8 zeros, 256 MiB inside (int8 becomes float32: 1 GiB), 0.26 MB compressed;
- images: an upload of a zip of 40 single-colour 1024x1024 RGB PNGs, about 10 KB;
- csv: an upload of 20 MB: a label and 100 features of "0" per row (100,000 rows);
- metrics: 100 MB of metric points (2 million, 20 times the per-request cap) to one run, auth off;
- numbers: a 30 MiB metrics body of no points and 15 million numbers in an extra field, auth off;
- anonymous: 100 MB of JSON to POST /api/v1/projects with auth on and no credential.

    .venv/bin/python bench/request_memory.py [--decoded-mb 512] [--cases npz,images,csv,metrics,...]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402


def npz_bomb() -> bytes:
    rows = 256 * 1024
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((rows, 1024), np.int8), y=(np.arange(rows) % 2).astype(np.int8))
    return buffer.getvalue()


def image_bomb() -> bytes:
    png = io.BytesIO()
    Image.new("RGB", (1024, 1024), (200, 30, 30)).save(png, format="PNG", optimize=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(40):
            archive.writestr(f"{'ab'[i % 2]}/{i}.png", png.getvalue())
    return buffer.getvalue()


def csv_bomb() -> bytes:
    features = 100
    row = ",".join(["0"] * features)
    lines = ["label," + ",".join(f"f{i}" for i in range(features))]
    lines += [f"{i % 2},{row}" for i in range(100_000)]
    return ("\n".join(lines) + "\n").encode()


def metrics_body() -> bytes:
    points = ",".join(f'{{"key":"train_error","step":{i},"value":0.5}}' for i in range(2_000_000))
    return f'{{"metrics":[{points}]}}'.encode()


def numbers_body() -> bytes:
    return b'{"metrics": [], "padding": [' + b"1," * (15 * 1024 * 1024) + b"1]}"


def anonymous_body() -> bytes:
    return b'{"name": "x", "dataset": "digits", "description": "' + b"a" * (100 * 1000 * 1000) + b'"}'


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    filename: str = ""  # an upload's file name; else the body is posted as JSON
    auth: bool = False


CASES = {
    "npz": Case(npz_bomb, "bomb.npz"),
    "images": Case(image_bomb, "bomb.zip"),
    "csv": Case(csv_bomb, "bomb.csv"),
    "metrics": Case(metrics_body),
    "numbers": Case(numbers_body),
    "anonymous": Case(anonymous_body, auth=True),
}


def send(http: httpx.Client, name: str, case: Case, data: bytes) -> httpx.Response:
    if case.filename:
        files = {"file": (case.filename, data, "application/octet-stream")}
        return http.post("/api/v1/datasets", data={"name": name}, files=files)
    if case.auth:
        return http.post("/api/v1/projects", content=data, headers={"content-type": "application/json"})
    project = http.post("/api/v1/projects", json={"name": "p", "dataset": "external"}).json()
    run = http.post("/api/v1/runs", json={"project_id": project["id"], "external": True}).json()
    url = f"/api/v1/runs/{run['id']}/metrics"
    return http.post(url, content=data, headers={"content-type": "application/json"})


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(name: str, decoded_mb: float | None) -> str:
    case = CASES[name]
    data = case.build()
    work = h.workdir()
    env = {} if decoded_mb is None else {"TRAINBOARD_MAX_DECODED_MB": str(decoded_mb)}
    if case.auth:
        env.update(TRAINBOARD_AUTH="on", TRAINBOARD_ADMIN_PASSWORD="bench-password-1")
    with h.our_server(f"sqlite:///{work / 'bench.db'}", work, work / "server.log", env) as server:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            http.get("/api/v1/health").raise_for_status()
            before = h.rss_mb(server.pid)
            start = time.perf_counter()
            response = send(http, name, case, data)
            seconds = time.perf_counter() - start
            growth = peak_mb(server.pid) - before
    answer = response.text[:100].replace("\n", " ")
    sent = len(data) / 1e6
    status = response.status_code
    return f"{name:9} {sent:7.2f} MB sent  {status}  {seconds:5.1f} s  peak +{growth:5.0f} MB  {answer}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decoded-mb", type=float, default=None, help="TRAINBOARD_MAX_DECODED_MB to set")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    print(h.machine())
    for name in args.cases.split(","):
        print(measure(name, args.decoded_mb), flush=True)


if __name__ == "__main__":
    main()
