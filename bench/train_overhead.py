"""Epoch time of the worker's training loop against a bare PyTorch loop on the same model and data.

Both loops train the same freshly seeded model with the same optimizer, batches cut by index from tensors
kept whole on the device, with the same number of torch threads (a worker's: the cores less one), and both
evaluate error and loss on the four splits after each epoch (what the worker logs). The worker's loop adds
what a run needs: progress pacing, the stop check, divergence checks, checkpoints paced as the worker paces
them (after the first and the final epoch and every --checkpoint-interval seconds; the final one is after the
last timed epoch) and metric callbacks (a reporter that only records the time, or with --reporter client the
worker's own). After one warm-up run of each, repeats alternate the two loops (ABBA) so that drift in the
machine's speed hits both; "paired" is the median over repeats of the ratio of two back-to-back runs.

--precision runs the comparison once per precision (both loops under the same torch.autocast, fp16 with a
GradScaler) and ends with the rows side by side: fp32, bf16 and fp16 by default on CUDA, fp32 and bf16 on CPU.

    .venv/bin/python bench/train_overhead.py [--dataset digits] [--epochs 8] [--repeats 5] [--device cpu]
        [--threads N] [--checkpoint-interval S] [--clock wall|cpu] [--reporter timing|client]
        [--precision fp32,bf16,fp16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import httpx
import torch
import torch.nn.functional as F

from models import build_model
from models.config import Hparams
from trainboard.client import Client
from trainboard.datasets import Splits, load_splits
from trainboard.settings import get_settings
from worker.memory import keep_freed_memory
from worker.precision import AUTOCAST_DTYPES
from worker.reporting import ApiReporter
from worker.runner import PROGRESS_INTERVAL_S
from worker.train import Progress, fit, resolve_device, to_device

SPLITS = ("train", "train_dev", "dev", "test")
#: --clock cpu measures the process's CPU time (all threads): on a shared, loaded machine other processes'
#: work does not count against either loop, which wall time cannot promise.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter
#: --checkpoint-interval: the worker's (worker.runner) unless told; 0 checkpoints every epoch.
_checkpoint_interval_s = get_settings().checkpoint_interval_s
#: --reporter: "timing" only notes the time; "client" reports through the worker's ApiReporter and the
#: client library to an in-process stand-in for the server (httpx.MockTransport), so that what the worker
#: spends on encoding and sending metrics, heartbeats, checkpoints and status polls counts, but not the
#: server's own work, which runs on another machine in production.
_reporter = "timing"
RUN_ID = 1


class TimingReporter:
    """A no-op reporter that notes when each epoch's metrics arrive."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_progress(self, progress: Progress) -> bool:
        return True

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if "train_error" in metrics or epoch == 0:
            self.stamps.append(_clock())

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        pass


class TimingApiReporter(ApiReporter):
    """The worker's own reporter (client library, status poller), noting when each epoch's metrics leave."""

    def __init__(self, client: Client) -> None:
        super().__init__(client, RUN_ID)
        self.stamps: list[float] = []

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if "train_error" in metrics or epoch == 0:
            self.stamps.append(_clock())
        super().on_epoch(epoch, metrics)


def in_process_server(request: httpx.Request) -> httpx.Response:
    """Answers the routes a training worker calls, in process, as the server does for a running run."""
    action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    if action == "metrics":
        return httpx.Response(200, json={"accepted": len(json.loads(request.content)["metrics"])})
    if action == "checkpoint":
        return httpx.Response(204)
    return httpx.Response(200, json={"id": RUN_ID, "status": "running"})  # progress and status polls


def worker_threads() -> int:
    """The torch threads worker.tasks gives its one training process: the CPU cores less one."""
    return max(1, (os.cpu_count() or 1) - 1)


def worker_loop(splits: Splits, model_config: dict, hp: Hparams, device: torch.device) -> list[float]:  # type: ignore[type-arg]
    torch.manual_seed(hp.seed)
    model = build_model(model_config, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    options: dict[str, Any] = {
        "device": device,
        "progress_interval_s": PROGRESS_INTERVAL_S,
        "checkpoint_interval_s": _checkpoint_interval_s,
    }
    reporter: TimingReporter | TimingApiReporter
    if _reporter == "client":
        client = Client(
            "http://trainboard.invalid", token="", transport=httpx.MockTransport(in_process_server)
        )
        with client, TimingApiReporter(client) as reporter:
            fit(model, splits, hp, reporter=reporter, stop=reporter.stop, **options)
    else:
        reporter = TimingReporter()
        fit(model, splits, hp, reporter=reporter, **options)
    return [b - a for a, b in zip(reporter.stamps, reporter.stamps[1:], strict=False)]


@torch.no_grad()
def bare_evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    error = (logits.argmax(dim=1) != y).float().mean().item()
    loss = F.cross_entropy(logits, y).item()
    model.train()
    return error, loss


def bare_loop(splits: Splits, model_config: dict, hp: Hparams, device: torch.device) -> list[float]:  # type: ignore[type-arg]
    torch.manual_seed(hp.seed)
    model = build_model(model_config, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    model.to(device)
    data = {name: to_device(splits.by_name(name), device) for name in SPLITS}
    x, y = data["train"].x, data["train"].y
    optimizer = torch.optim.Adam(model.parameters(), lr=hp.lr)
    generator = torch.Generator().manual_seed(hp.seed)
    dtype = AUTOCAST_DTYPES.get(hp.precision)
    scaler = torch.amp.GradScaler(device.type) if hp.precision == "fp16" else None
    times, start = [], _clock()
    for _ in range(hp.epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(device)
        for first in range(0, len(y), hp.batch_size):
            index = order[first : first + hp.batch_size]
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        for name in SPLITS:
            bare_evaluate(model, data[name].x, data[name].y)
        now = _clock()
        times.append(now - start)
        start = now
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--hidden", default="256,256", help="MLP hidden sizes")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument(
        "--threads",
        type=int,
        default=worker_threads(),
        help="torch intra-op threads for both loops (default: what a worker process uses)",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=get_settings().checkpoint_interval_s,
        help="seconds between the worker loop's checkpoints (default: the worker's; 0: every epoch)",
    )
    parser.add_argument("--reporter", choices=("timing", "client"), default="timing")
    parser.add_argument(
        "--precision",
        default=None,
        help="comma-separated precisions to compare (default: fp32,bf16,fp16 on CUDA, fp32,bf16 on CPU)",
    )
    parser.add_argument(
        "--malloc",
        choices=("worker", "glibc"),
        default="worker",
        help="allocator thresholds: the worker's (keep freed buffers, worker/memory.py) or glibc's defaults",
    )
    args = parser.parse_args()
    if args.malloc == "worker":
        keep_freed_memory()  # as worker.tasks does in each training process
    torch.set_num_threads(args.threads)
    global _clock, _checkpoint_interval_s, _reporter
    _clock = CLOCKS[args.clock]
    _checkpoint_interval_s, _reporter = args.checkpoint_interval, args.reporter
    device = resolve_device(args.device)
    precisions = (args.precision or ("fp32,bf16,fp16" if device.type == "cuda" else "fp32,bf16")).split(",")
    splits = load_splits(args.dataset)
    model_config = {"name": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]}
    hp = Hparams(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, optimizer="adam", seed=0)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)  # fit() turns this on; same for both
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), device {device}, {args.clock} clock; "
        f"{args.dataset} train {len(splits.train)}, "
        f"mlp {model_config['hidden']}, batch {args.batch_size}, "
        f"{args.epochs} epochs x {args.repeats} repeats, checkpoints every {args.checkpoint_interval:g} s, "
        f"{args.reporter} reporter, {args.malloc} malloc thresholds, precisions {','.join(precisions)}"
    )
    rows = {
        precision: compare(
            splits, model_config, Hparams(**{**hp.model_dump(), "precision": precision}), device, args.repeats
        )
        for precision in precisions
    }
    if len(rows) > 1:
        print("\nprecision | worker epoch (median) | bare epoch | paired worker/bare | worker examples/s")
        for precision, (worker_s, bare_s, paired) in rows.items():
            rate = len(splits.train) / worker_s
            times = f"{worker_s * 1000:.1f} ms | {bare_s * 1000:.1f} ms"
            print(f"{precision:>9} | {times} | {paired:.3f} | {rate:,.0f}")


def compare(
    splits: Splits,
    model_config: dict,
    hp: Hparams,
    device: torch.device,
    repeats: int,  # type: ignore[type-arg]
) -> tuple[float, float, float]:
    """Time both loops in `hp.precision`, print the figures; returns the median epochs and paired ratio."""
    print(f"--- precision {hp.precision}")
    worker_loop(splits, model_config, hp, device)  # warm-up: allocator, kernels, imports
    bare_loop(splits, model_config, hp, device)
    results: dict[str, list[float]] = {"worker": [], "bare": []}
    paired: list[float] = []  # per repeat: worker time / bare time, the two run back to back
    loops = [("worker", worker_loop), ("bare", bare_loop)]
    for repeat in range(repeats):
        totals = {}
        for name, loop in loops if repeat % 2 == 0 else loops[::-1]:  # ABBA: neither always goes first
            epochs = loop(splits, model_config, hp, device)
            results[name].extend(epochs)
            totals[name] = sum(epochs)
            print(f"repeat {repeat + 1} {name:>6}: " + " ".join(f"{t * 1000:.1f}" for t in epochs) + " ms")
        paired.append(totals["worker"] / totals["bare"])
    # On a shared machine other processes only ever add time, so the minimum is the least noisy figure.
    stats = {
        "min": {name: min(times) for name, times in results.items()},
        "median": {name: statistics.median(times) for name, times in results.items()},
        "mean": {name: statistics.fmean(times) for name, times in results.items()},
    }
    for name in results:
        figures = ", ".join(f"{stat} {values[name] * 1000:.1f} ms" for stat, values in stats.items())
        print(f"{name:>6} epoch: {figures}")
    ratios = ", ".join(f"{stat} {v['worker'] / v['bare']:.3f}" for stat, v in stats.items())
    print(f"ratio worker / bare: {ratios}, paired median {statistics.median(paired):.3f} (target <= 1.05)")
    return stats["median"]["worker"], stats["median"]["bare"], statistics.median(paired)


if __name__ == "__main__":
    main()
