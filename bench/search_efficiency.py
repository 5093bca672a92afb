"""Search efficiency at an equal budget of training epochs: random search with ASHA, plain random search,
and Optuna (TPE sampler + median pruner), all driving the same training function (`worker.train.fit`) on
the digits dataset, in-process on CPU.

    .venv/bin/python bench/search_efficiency.py --budget 200 --seeds 0 1 2 3 4

For each method and seed it prints the best dev error reached within the budget and the epochs spent when
a trial first reached the target dev error (or "-" when none did), then the means side by side.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models import build_model
from server.search import AshaRule, parse_space, sample_random
from worker.data import Splits, load_splits
from worker.train import Progress, fit, set_seed

SPACE = {
    "hparams.lr": {"log_uniform": [1e-5, 1.0]},
    "hparams.batch_size": {"int_uniform": [16, 256]},
    "hparams.l2": {"log_uniform": [1e-6, 1e-1]},
    "hparams.optimizer": {"choice": ["sgd", "momentum", "adam"]},
    "model.hidden": {"choice": [[16], [64], [128], [64, 64]]},
}
MAX_EPOCHS = 27  # rungs at 1, 3 and 9 epochs with min_epochs=1, eta=3


class BudgetSpent(Exception):
    """The method has used its whole epoch budget."""


@dataclass
class Ledger:
    """Epochs spent so far and the best dev error seen, shared by all trials of one method and seed."""

    budget: int
    targets: list[float]
    epochs: int = 0
    best: float = math.inf
    epochs_to_target: dict[float, int] = field(default_factory=dict)
    trials: int = 0
    history: list[float] = field(default_factory=list)

    def record(self, dev_error: float) -> None:
        self.epochs += 1
        self.best = min(self.best, dev_error)
        for target in self.targets:
            if target not in self.epochs_to_target and dev_error <= target:
                self.epochs_to_target[target] = self.epochs
        self.history.append(self.best)


class Recorder:
    """A `worker.train.Reporter` that records dev error per epoch and stops when `should_stop` says so."""

    def __init__(self, ledger: Ledger, should_stop: Callable[[int, float], bool]) -> None:
        self.ledger, self.should_stop = ledger, should_stop
        self.stop = False

    def on_progress(self, progress: Progress) -> bool:
        return not self.stop

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 0 or "dev_error" not in metrics:
            return
        dev_error = metrics["dev_error"]
        self.ledger.record(dev_error)
        self.stop = self.ledger.epochs >= self.ledger.budget or self.should_stop(epoch, dev_error)

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        pass


def train(splits: Splits, params: dict[str, Any], seed: int, recorder: Recorder) -> None:
    """One trial: the same path a worker takes (build the model, then `fit`), without the HTTP."""
    hidden = params.get("model.hidden", [64])
    hparams = {
        "epochs": MAX_EPOCHS,
        "seed": seed,
        **{path.split(".", 1)[1]: value for path, value in params.items() if path.startswith("hparams.")},
    }
    set_seed(seed)
    model = build_model(
        {"name": "mlp", "hidden": hidden},
        input_shape=splits.info.input_shape,
        n_classes=splits.info.n_classes,
    )
    fit(model, splits, hparams, device=torch.device("cpu"), reporter=recorder, progress_interval_s=1e9)


def run_random(splits: Splits, ledger: Ledger, seed: int, asha: AshaRule | None) -> None:
    """Random search, trial after trial, optionally with ASHA, until the budget is spent."""
    space = parse_space(SPACE)
    rung_values: dict[int, list[float]] = {}

    def should_stop(epoch: int, dev_error: float) -> bool:
        if asha is None or asha.rung_index(epoch) is None:
            return False
        rung_values.setdefault(epoch, []).append(dev_error)
        return asha.decide(epoch, dev_error, rung_values[epoch]).stop

    for index, params in enumerate(sample_random(space, 10_000, seed)):
        if ledger.epochs >= ledger.budget:
            return
        ledger.trials += 1
        train(splits, params, seed * 100_003 + index, Recorder(ledger, should_stop))


def run_optuna(splits: Splits, ledger: Ledger, seed: int) -> None:
    """Optuna's TPE sampler with its median pruner, over the same space and budget."""
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
        best = math.inf
        pruned = False

        def should_stop(epoch: int, dev_error: float) -> bool:
            nonlocal best, pruned
            best = min(best, dev_error)
            trial.report(dev_error, epoch)
            pruned = trial.should_prune()
            return pruned

        ledger.trials += 1
        train(splits, params, seed * 100_003 + trial.number, Recorder(ledger, should_stop))
        if pruned:
            raise optuna.TrialPruned()
        return best

    while ledger.epochs < ledger.budget:
        study.optimize(objective, n_trials=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=int, default=200, help="Training epochs per method and seed.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--targets", type=float, nargs="+", default=[0.04, 0.02, 0.015, 0.01], help="Dev errors to reach."
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    parser.add_argument("--min-epochs", type=int, default=1, help="ASHA: epochs before the first rung.")
    parser.add_argument("--eta", type=int, default=3, help="ASHA: keep the top 1/eta at each rung.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = load_splits("digits", train_fraction=1.0, normalize=True)
    asha = AshaRule(min_epochs=args.min_epochs, eta=args.eta)
    methods: dict[str, Callable[[Ledger, int], None]] = {
        "random": lambda ledger, seed: run_random(splits, ledger, seed, None),
        "random+ASHA": lambda ledger, seed: run_random(splits, ledger, seed, asha),
        "optuna TPE+median": lambda ledger, seed: run_optuna(splits, ledger, seed),
    }
    targets = sorted(args.targets, reverse=True)
    print(f"digits MLP, budget {args.budget} epochs, max {MAX_EPOCHS} epochs/trial, ASHA {asha}")
    header = "".join(f"{'to ' + format(t, 'g'):>9}" for t in targets)
    print(f"{'method':<20}{'seed':>5}{'trials':>8}{'best dev err':>14}{header}{'time s':>8}")
    results: dict[str, list[Ledger]] = {name: [] for name in methods}
    for seed in args.seeds:
        for name, method in methods.items():
            ledger = Ledger(budget=args.budget, targets=targets)
            start = time.perf_counter()
            method(ledger, seed)
            elapsed = time.perf_counter() - start
            results[name].append(ledger)
            reached = "".join(f"{ledger.epochs_to_target.get(t, '-'):>9}" for t in targets)
            print(f"{name:<20}{seed:>5}{ledger.trials:>8}{ledger.best:>14.4f}{reached}{elapsed:>8.1f}")
    print()
    print("Epochs to reach each target: median over the seeds that reached it (reached/seeds).")
    print(
        f"{'method':<20}{'mean best':>10}{'median best':>12}"
        + "".join(f"{'to ' + format(t, 'g'):>14}" for t in targets)
    )
    for name, ledgers in results.items():
        bests = [ledger.best for ledger in ledgers]
        cells = []
        for target in targets:
            reached = [
                ledger.epochs_to_target[target] for ledger in ledgers if target in ledger.epochs_to_target
            ]
            median = f"{statistics.median(reached):.0f}" if reached else "-"
            cells.append(f"{median + f' ({len(reached)}/{len(ledgers)})':>14}")
        print(f"{name:<20}{float(np.mean(bests)):>10.4f}{float(np.median(bests)):>12.4f}" + "".join(cells))


if __name__ == "__main__":
    main()
