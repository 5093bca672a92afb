"""What the attack's small uploads that decode large cost a real `trainboard serve` process.

Each case gets a fresh server (so its peak starts clean) and one POST /api/v1/datasets; printed: the status,
the answer's first words, the upload's size on the wire and the server's peak resident memory (VmHWM)
less its resident memory just before the upload. The cases are issue 21's:

- npz: X of int8 zeros, 256 MiB inside (int8 becomes float32: 1 GiB), about 0.27 MB compressed;
- images: a zip of 40 single-colour 1024x1024 RGB PNGs, about 10 KB;
- csv: 20 MB of a label and 100 features of "0" per row (100,000 rows).

    .venv/bin/python bench/upload_memory.py [--decoded-mb 512] [--cases npz,images,csv]
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections.abc import Callable
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


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "npz": ("bomb.npz", npz_bomb),
    "images": ("bomb.zip", image_bomb),
    "csv": ("bomb.csv", csv_bomb),
}


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(name: str, decoded_mb: float | None) -> str:
    filename, build = CASES[name]
    data = build()
    work = h.workdir()
    env = {} if decoded_mb is None else {"TRAINBOARD_MAX_DECODED_MB": str(decoded_mb)}
    with h.our_server(f"sqlite:///{work / 'bench.db'}", work, work / "server.log", env) as server:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            http.get("/api/v1/datasets").raise_for_status()  # warm: the routes' imports are loaded
            before = h.rss_mb(server.pid)
            files = {"file": (filename, data, "application/octet-stream")}
            response = http.post("/api/v1/datasets", data={"name": name}, files=files)
            growth = peak_mb(server.pid) - before
    answer = response.text[:110].replace("\n", " ")
    sent = len(data) / 1e6
    return f"{name:7} {sent:7.2f} MB sent  {response.status_code}  peak +{growth:6.0f} MB  {answer}"


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
