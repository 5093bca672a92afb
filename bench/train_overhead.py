"""Epoch time of the worker's training loop against a bare PyTorch loop on the same model and data.

Both loops train the same freshly seeded model with the same optimizer, batches cut by index from tensors
kept whole on the device, and both evaluate error and loss on the four splits after each epoch (what the
worker logs). The worker's loop adds what a run needs: progress pacing, divergence checks, the per-epoch
checkpoint bytes and metric callbacks (here a reporter that only records the time). Repeats alternate the
two loops so that drift in the machine's speed hits both.

    .venv/bin/python bench/train_overhead.py [--dataset digits] [--epochs 8] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from models import build_model
from worker.data import Splits, load_splits
from worker.hparams import Hparams
from worker.train import Progress, fit, resolve_device, to_device

SPLITS = ("train", "train_dev", "dev", "test")
#: --clock cpu measures the process's CPU time (all threads): on a shared, loaded machine other processes'
#: work does not count against either loop, which wall time cannot promise.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


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


def worker_loop(splits: Splits, model_config: dict, hp: Hparams, device: torch.device) -> list[float]:  # type: ignore[type-arg]
    torch.manual_seed(hp.seed)
    model = build_model(model_config, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    reporter = TimingReporter()
    fit(model, splits, hp, device=device, reporter=reporter)
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
    times, start = [], _clock()
    for _ in range(hp.epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator).to(device)
        for first in range(0, len(y), hp.batch_size):
            index = order[first : first + hp.batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
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
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    device = resolve_device(args.device)
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
        f"{args.epochs} epochs x {args.repeats} repeats"
    )
    worker_loop(splits, model_config, hp, device)  # warm-up: allocator, kernels, imports
    bare_loop(splits, model_config, hp, device)
    results: dict[str, list[float]] = {"worker": [], "bare": []}
    for repeat in range(args.repeats):
        for name, loop in (("worker", worker_loop), ("bare", bare_loop)):
            epochs = loop(splits, model_config, hp, device)
            results[name].extend(epochs)
            print(f"repeat {repeat + 1} {name:>6}: " + " ".join(f"{t * 1000:.1f}" for t in epochs) + " ms")
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
    print(f"ratio worker / bare: {ratios} (target <= 1.05)")


if __name__ == "__main__":
    main()
