"""Search efficiency at an equal budget of training epochs: random search with ASHA (the server's
`server.search.AshaRule`), plain random search, and Optuna (TPE sampler + median pruner), all on curves of the
same training function (`worker.train.fit`, the path a worker takes) on the digits dataset, in-process on CPU.

    .venv/bin/python bench/search_efficiency.py          # about 11 min on 2 shared cores, table cached

How (a "tabular" benchmark, as in Klein & Hutter 2019 and the HPO literature since):
1. A table: `--configs` configurations drawn from SPACE with the server's `sample_random`, each trained
   once to MAX_EPOCHS from the same seed, its dev error recorded after every epoch (cached in
   .trainboard/bench/).
2. Targets, fixed before any race: for each `--top` fraction q, the dev error that only the best q of the
   table's configurations reach when trained to the end (the q-quantile of each curve's best dev error).
3. Races, one per seed and method, each charged the epochs it actually trains: random and random+ASHA draw
   configurations from the table (with replacement, the same draws for both) and replay their curves;
   ASHA stops a trial at a rung exactly as the server does, with `--workers` trials running side by side.
   Optuna picks its own configurations (TPE), so its trials are trained live with the same function and seed,
   which gives the curve the table would hold; its median pruner stops them.
Printed per method: the median / mean best dev error within each budget (in full trials of MAX_EPOCHS),
and the epochs spent when a trial first reached each target (median over all seeds, ">B" when fewer than
half reached it within the largest budget) with how many seeds reached it.

Optuna is not a dependency of Trainboard: `.venv/bin/pip install optuna` (measured with 5.0.0), or pass
--no-optuna.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import build_model
from server.search import AshaRule, parse_space, sample_random
from trainboard.datasets import Splits, load_splits
from worker.train import Progress, fit, set_seed

SPACE = {
    "hparams.lr": {"log_uniform": [1e-5, 1.0]},
    "hparams.batch_size": {"int_uniform": [16, 256]},
    "hparams.l2": {"log_uniform": [1e-6, 1e-1]},
    "hparams.optimizer": {"choice": ["sgd", "momentum", "adam"]},
    "model.hidden": {"choice": [[16], [64], [128], [64, 64]]},
}
MAX_EPOCHS = 27  # R = 27 with r = 1 epoch and eta = 3: rungs at 1, 3 and 9 epochs (Li et al. 2018)
TRAIN_SEED = 0  # every configuration trains from the same seed, so its curve is a function of it alone
TABLE_SEED = 2026
CACHE_DIR = Path(__file__).resolve().parent.parent / ".trainboard" / "bench"


# ---------------------------------------------------------------- training and the table


class CurveRecorder:
    """A `worker.train.Reporter` keeping each epoch's dev error; it stops when `should_stop` says so."""

    def __init__(self, should_stop: Callable[[int, float], bool]) -> None:
        self.should_stop = should_stop
        self.curve: list[float] = []
        self.stop = False

    def on_progress(self, progress: Progress) -> bool:
        return not self.stop

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 0 or "dev_error" not in metrics:
            return
        self.curve.append(metrics["dev_error"])
        self.stop = self.should_stop(epoch, metrics["dev_error"])

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        pass


def train(
    splits: Splits, params: dict[str, Any], should_stop: Callable[[int, float], bool] = lambda e, v: False
) -> list[float]:
    """One trial, the way a worker runs it (build the model, then `fit`); its dev error per epoch."""
    hparams = {
        "epochs": MAX_EPOCHS,
        "seed": TRAIN_SEED,
        **{path.split(".", 1)[1]: value for path, value in params.items() if path.startswith("hparams.")},
    }
    set_seed(TRAIN_SEED)
    model = build_model(
        {"name": "mlp", "hidden": params.get("model.hidden", [64])},
        input_shape=splits.info.input_shape,
        n_classes=splits.info.n_classes,
    )
    recorder = CurveRecorder(should_stop)
    fit(model, splits, hparams, device=torch.device("cpu"), reporter=recorder, progress_interval_s=1e9)
    return recorder.curve


def build_table(splits: Splits, n_configs: int) -> list[list[float]]:
    """The full-length dev-error curve of `n_configs` configurations drawn from SPACE, cached on disk."""
    key = json.dumps(
        [SPACE, MAX_EPOCHS, TRAIN_SEED, TABLE_SEED, n_configs, torch.__version__], sort_keys=True
    )
    path = CACHE_DIR / f"search_table_{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    if path.exists():
        return json.loads(path.read_text())["curves"]
    start = time.perf_counter()
    configs = sample_random(parse_space(SPACE), n_configs, TABLE_SEED)
    curves = []
    for index, params in enumerate(configs):
        curves.append(train(splits, params))
        if (index + 1) % 100 == 0:
            print(f"  table: {index + 1}/{n_configs} configurations, {time.perf_counter() - start:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"configs": configs, "curves": curves}))
    return curves


@dataclass(frozen=True)
class Target:
    """A dev error only the best `top` of the table's configurations reach (`share` do, with ties)."""

    top: float
    dev_error: float
    share: float


def choose_targets(curves: list[list[float]], tops: list[float]) -> list[Target]:
    """One target per fraction, from each configuration's best dev error over its full training."""
    best = sorted(min(curve) for curve in curves)
    targets = []
    for top in tops:
        dev_error = best[max(0, math.ceil(top * len(best)) - 1)]
        targets.append(Target(top, dev_error, sum(b <= dev_error for b in best) / len(best)))
    return targets


# ---------------------------------------------------------------- races


@dataclass
class Ledger:
    """Epochs one method spent on one seed, the best dev error after each, and when each target fell."""

    budget: int
    targets: list[float]
    epochs: int = 0
    trials: int = 0
    best_after: list[float] = field(default_factory=list)
    epochs_to_target: dict[float, int] = field(default_factory=dict)

    @property
    def spent(self) -> bool:
        return self.epochs >= self.budget

    def record(self, dev_error: float) -> None:
        self.epochs += 1
        self.best_after.append(min(dev_error, self.best_after[-1] if self.best_after else math.inf))
        for target in self.targets:
            if target not in self.epochs_to_target and dev_error <= target:
                self.epochs_to_target[target] = self.epochs

    def best_within(self, epochs: int) -> float:
        return self.best_after[min(epochs, len(self.best_after)) - 1] if self.best_after else math.inf


def draws(n_configs: int, seed: int) -> Iterator[int]:
    """Table rows drawn uniformly with replacement: random search over the table."""
    rng = np.random.default_rng(seed)
    while True:
        yield from rng.integers(0, n_configs, size=1024).tolist()


def replay_random(
    curves: list[list[float]], ledger: Ledger, seed: int, asha: AshaRule | None, workers: int
) -> None:
    """Random search over the table, `workers` trials at a time, optionally stopped by ASHA.

    Time advances one epoch per step on every worker, so trials report in the order they would on equal GPUs;
    ASHA sees, at each rung, every trial that reached it before (the server's `on_metrics`).
    """
    rung_values: dict[int, list[float]] = {}
    rows = draws(len(curves), seed)
    running: list[tuple[int, int] | None] = [None] * workers  # (table row, epochs trained) per worker
    while not ledger.spent:
        for worker in range(workers):
            if ledger.spent:
                return
            current = running[worker]
            if current is None:
                current = (next(rows), 0)
                ledger.trials += 1
            row, done = current
            curve, epoch = curves[row], done + 1
            ledger.record(curve[epoch - 1])
            ended = epoch >= len(curve)
            if asha is not None and not ended and asha.rung_index(epoch) is not None:
                rung_values.setdefault(epoch, []).append(curve[epoch - 1])
                ended = asha.decide(epoch, curve[epoch - 1], rung_values[epoch], max_epochs=MAX_EPOCHS).stop
            running[worker] = None if ended else (row, epoch)


def replay_optuna_asha(curves: list[list[float]], ledger: Ledger, seed: int) -> None:
    """A cross-check of the server's rule: the same draws as `replay_random`, one worker, stopped by Optuna's
    own ASHA (`SuccessiveHalvingPruner`, r=1, eta=3, s=0) instead of `AshaRule`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=3, min_early_stopping_rate=0
    )
    study = optuna.create_study(direction="minimize", pruner=pruner)
    rows = draws(len(curves), seed)
    while not ledger.spent:
        trial, curve = study.ask(), curves[next(rows)]
        ledger.trials += 1
        for epoch, dev_error in enumerate(curve, start=1):
            ledger.record(dev_error)
            if ledger.spent:
                return
            trial.report(dev_error, epoch)
            if epoch < len(curve) and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, min(curve))


def run_optuna(splits: Splits, ledger: Ledger, seed: int) -> None:
    """Optuna's TPE sampler with its median pruner over the same space, trained live, one trial at a time."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )

    def objective(trial: optuna.Trial) -> float:
        params = {
            "hparams.lr": trial.suggest_float("lr", 1e-5, 1.0, log=True),
            "hparams.batch_size": trial.suggest_int("batch_size", 16, 256),
            "hparams.l2": trial.suggest_float("l2", 1e-6, 1e-1, log=True),
            "hparams.optimizer": trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam"]),
            "model.hidden": [[16], [64], [128], [64, 64]][trial.suggest_int("hidden", 0, 3)],
        }
        pruned = False

        def should_stop(epoch: int, dev_error: float) -> bool:
            nonlocal pruned
            ledger.record(dev_error)
            trial.report(dev_error, epoch)
            pruned = trial.should_prune()
            return pruned or ledger.spent

        ledger.trials += 1
        curve = train(splits, params, should_stop)
        if pruned:
            raise optuna.TrialPruned()
        return min(curve, default=math.inf)

    while not ledger.spent:
        study.optimize(objective, n_trials=1)


# ---------------------------------------------------------------- report


def median_epochs(ledgers: list[Ledger], target: float) -> float:
    """Median epochs to `target` over all seeds, a seed that never reached it counting as infinity."""
    return statistics.median(ledger.epochs_to_target.get(target, math.inf) for ledger in ledgers)


def print_report(
    results: dict[str, list[Ledger]], targets: list[Target], budgets: list[int], baseline: str
) -> None:
    largest = max(budgets) * MAX_EPOCHS
    head = "".join(f"{f'best@{b}x %':>14}" for b in budgets)
    head += "".join(f"{f'to {t.dev_error:.2%} (top {t.top * 100:g}%)':>24}" for t in targets)
    print(f"{'method':<26}{'trials':>7}{head}")
    for name, ledgers in results.items():
        trials = statistics.median(ledger.trials for ledger in ledgers)
        row = f"{name:<26}{trials:>7.0f}"
        for budget in budgets:
            best = [ledger.best_within(budget * MAX_EPOCHS) * 100 for ledger in ledgers]
            row += f"{f'{statistics.median(best):.2f}/{statistics.mean(best):.2f}':>14}"
        for target in targets:
            median = median_epochs(ledgers, target.dev_error)
            reached = sum(target.dev_error in ledger.epochs_to_target for ledger in ledgers)
            base = median_epochs(results[baseline], target.dev_error)
            ratio = f" {median / base:.2f}x" if math.isfinite(median) and math.isfinite(base) else ""
            epochs = f"{median:.0f}" if math.isfinite(median) else f">{largest}"
            row += f"{f'{epochs} ({reached}/{len(ledgers)}){ratio}':>24}"
        print(row)
    print(
        f"best@Bx: median/mean over seeds of the best dev error within B full trials ({MAX_EPOCHS} epochs"
        f" each). to X: median epochs when a trial first reached dev error X (seeds that reached it within"
        f" {largest}), and the ratio to {baseline}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", type=int, default=1000, help="Configurations in the table.")
    parser.add_argument("--seeds", type=int, default=200, help="Replayed races per method (seeds 0..N-1).")
    parser.add_argument("--optuna-seeds", type=int, default=30, help="Races of the two Optuna methods.")
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 30], help="Budgets, in full trials.")
    parser.add_argument("--top", type=float, nargs="+", default=[0.1, 0.05, 0.005], help="Target fractions.")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 4], help="Trials side by side (replay)."
    )
    parser.add_argument("--min-epochs", type=int, default=1, help="ASHA: epochs before the first rung.")
    parser.add_argument("--eta", type=int, default=3, help="ASHA: keep the top 1/eta at each rung.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--no-optuna", action="store_true", help="Skip Optuna (not a Trainboard dependency).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    splits = load_splits("digits", train_fraction=1.0, normalize=True)
    curves = build_table(splits, args.configs)
    targets = choose_targets(curves, sorted(args.top, reverse=True))
    asha = AshaRule(min_epochs=args.min_epochs, eta=args.eta)
    budget = max(args.budgets) * MAX_EPOCHS
    print(
        f"digits MLP ({len(splits.train.y)} train / {len(splits.dev.y)} dev), table of {len(curves)}"
        f" configurations x {MAX_EPOCHS} epochs, {args.seeds} seeds, budget up to {budget} epochs, ASHA rungs"
        f" {asha.rungs(MAX_EPOCHS)} (eta={asha.eta}); torch {torch.__version__},"
        f" Python {platform.python_version()}"
    )
    best = [min(curve) for curve in curves]
    print(f"table: best dev error median {statistics.median(best):.4f}, best {min(best):.4f}")
    for target in targets:
        share = f"{target.share:.1%} of the table"
        print(f"target top {target.top * 100:g}%: dev error <= {target.dev_error:.4f} ({share})")
    methods: dict[str, Callable[[Ledger, int], None]] = {}
    seeds: dict[str, int] = {}
    for workers in args.workers:
        suffix = "" if workers == 1 else f", {workers} workers"
        methods[f"random{suffix}"] = lambda ledger, seed, w=workers: replay_random(
            curves, ledger, seed, None, w
        )
        methods[f"random+ASHA{suffix}"] = lambda ledger, seed, w=workers: replay_random(
            curves, ledger, seed, asha, w
        )
    if not args.no_optuna and 1 in args.workers:
        methods["random+optuna's ASHA"] = lambda ledger, seed: replay_optuna_asha(curves, ledger, seed)
        seeds["random+optuna's ASHA"] = args.optuna_seeds
    if not args.no_optuna:
        methods["optuna TPE+median"] = lambda ledger, seed: run_optuna(splits, ledger, seed)
        seeds["optuna TPE+median"] = args.optuna_seeds
    results: dict[str, list[Ledger]] = {name: [] for name in methods}
    for name, method in methods.items():
        start = time.perf_counter()
        for seed in range(seeds.get(name, args.seeds)):
            ledger = Ledger(budget=budget, targets=[t.dev_error for t in targets])
            method(ledger, seed)
            results[name].append(ledger)
        print(f"  {name}: {time.perf_counter() - start:.1f} s")
    print()
    print_report(results, targets, args.budgets, baseline=next(iter(methods)))
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
