"""Did training work at all? Runs that never left chance, and runs whose training is unstable.

The bias/variance recipe assumes an optimiser that makes progress. A run stuck at chance (lr = 10 with plain
SGD: 90 % train error on ten classes, loss about ln 10) has a huge "avoidable bias", yet a bigger network or
longer training cannot help it: the learning rate must come down first. Likewise a run whose errors climb back
up or whose loss blows up is unstable, not under-trained. These rules read the per-epoch curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from server.diagnosis._ladder import Z, rate_variance

#: Fewest epochs before a run may be called stuck or unstable: one or two epochs say too little.
MIN_EPOCHS = 3
#: Without split sizes, how close to chance (in error) still counts as chance.
CHANCE_MARGIN = 0.02
#: A dev error this much (absolute) above its best, and twice it, is "far above its best".
DEV_RISE = 0.03
#: A train loss this many times its minimum, and above where it started, has blown up.
LOSS_BLOWUP = 2.0
#: Share of dev predictions in one class above which the model predicts a constant.
CONSTANT_SHARE = 0.99

HEALTH_STATUSES = ("ok", "not_learning", "learning_slowly", "unstable", "unknown")


@dataclass(frozen=True)
class TrainingCurves:
    """Per-epoch values in epoch order, and what is known of the classes."""

    train_error: Sequence[float] = ()
    dev_error: Sequence[float] = ()
    train_loss: Sequence[float] = ()
    n_classes: int | None = None
    train_examples: int | None = None
    dev_examples: int | None = None
    #: Share of the dev predictions that go to the most predicted class (None: no predictions).
    top_predicted_share: float | None = None

    def __post_init__(self) -> None:
        if self.n_classes is not None and (isinstance(self.n_classes, bool) or self.n_classes < 2):
            raise ValueError(f"n_classes must be at least 2 or None, but got n_classes={self.n_classes!r}")
        share = self.top_predicted_share
        if share is not None and not (math.isfinite(share) and 0.0 <= share <= 1.0):
            raise ValueError(f"top_predicted_share must be in [0, 1] or None, but got {share=}")


@dataclass(frozen=True)
class TrainingHealth:
    """How training went, in one word and one sentence.

    ``status``: ``ok``; ``not_learning`` (errors never left chance and the loss did not fall steadily: lower
    the learning rate); ``learning_slowly`` (at chance, but the loss falls epoch after epoch: the learning
    rate is too small); ``unstable`` (loss blew up, or train or dev error climbed far above its best);
    ``unknown`` (too few epochs logged to tell).
    """

    status: str
    reason: str | None = None
    chance_error: float | None = None
    #: The run's "error" rises toward 1 while its loss falls: probably an accuracy logged as an error.
    looks_like_accuracy: bool = False

    @property
    def healthy(self) -> bool:
        return self.status in ("ok", "unknown")


def chance_error(n_classes: int | None) -> float | None:
    """The error of guessing uniformly among ``n_classes`` classes."""
    return None if n_classes is None else 1.0 - 1.0 / n_classes


def _margin(error: float, n: int | None) -> float:
    """How far from ``error`` a value measured on ``n`` examples may fall by noise alone."""
    if n is None:
        return CHANCE_MARGIN
    return max(CHANCE_MARGIN, Z * math.sqrt(rate_variance(error, n)))


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _falls_steadily(losses: Sequence[float]) -> bool:
    """Every epoch's loss below the one before, and the whole fall more than 1 % of the start."""
    pairs = list(zip(losses, losses[1:], strict=False))
    return bool(pairs) and all(b < a for a, b in pairs) and losses[-1] < 0.99 * losses[0]


def _at_chance(curves: TrainingCurves) -> TrainingHealth | None:
    """Not learning: the best error of the run is still within noise of chance, or it predicts a constant."""
    errors, n = (curves.train_error, curves.train_examples)
    split = "train"
    if len(errors) < MIN_EPOCHS:
        errors, n, split = curves.dev_error, curves.dev_examples, "dev"
    chance = chance_error(curves.n_classes)
    stuck = None
    if chance is not None and len(errors) >= MIN_EPOCHS and min(errors) >= chance - _margin(chance, n):
        stuck = (
            f"{split} error never left chance: {_pct(min(errors))} at best over {len(errors)} epochs, "
            f"where guessing among {curves.n_classes} classes gives {_pct(chance)}"
        )
    share = curves.top_predicted_share
    if stuck is None and share is not None and share >= CONSTANT_SHARE and len(curves.dev_error) >= 1:
        stuck = f"the model predicts one class for {share:.0%} of the dev examples"
    if stuck is None:
        return None
    if len(curves.train_loss) >= MIN_EPOCHS and _falls_steadily(curves.train_loss):
        first, last = curves.train_loss[0], curves.train_loss[-1]
        reason = (
            f"{stuck}, but the train loss falls every epoch ({first:.3g} -> {last:.3g}): learning is too slow"
        )
        return TrainingHealth("learning_slowly", reason, chance)
    return TrainingHealth("not_learning", f"{stuck}: the network did not learn", chance)


def _unstable(curves: TrainingCurves) -> str | None:
    """Why training looks unstable, or None: the loss blew up, or train or dev error is far off its best."""
    losses = curves.train_loss
    if len(losses) >= MIN_EPOCHS:
        low = min(losses)
        if losses[-1] > LOSS_BLOWUP * low and losses[-1] > losses[0]:
            return f"the train loss blew up: {losses[-1]:.3g} at the end against {low:.3g} at its lowest"
    train = curves.train_error
    if len(train) >= MIN_EPOCHS:
        best, last = min(train), train[-1]
        if last - best > _margin(best, curves.train_examples) and last > 2 * best:
            return f"train error climbed back up: {_pct(last)} at the end against {_pct(best)} at its best"
    dev = curves.dev_error
    if len(dev) >= MIN_EPOCHS:
        at_best = min(range(len(dev)), key=dev.__getitem__)
        best, last = dev[at_best], dev[-1]
        n = curves.dev_examples
        noise = DEV_RISE if n is None else max(DEV_RISE, Z * math.sqrt(2 * rate_variance(best, n)))
        # Overfitting also lifts dev error, but train error keeps falling meanwhile: that is variance.
        overfitting = len(train) == len(dev) and train[-1] < train[at_best]
        if last - best > noise and last > 2 * best and (_oscillates(dev) or not overfitting):
            return f"dev error swings: {_pct(last)} at the end against {_pct(best)} at its best"
    return None


def _oscillates(values: Sequence[float]) -> bool:
    """The series went down, then up, then down again (at least two changes of direction)."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False) if b != a]
    turns = sum(1 for a, b in zip(steps, steps[1:], strict=False) if (a > 0) != (b > 0))
    return turns >= 2


def _looks_like_accuracy(curves: TrainingCurves) -> bool:
    """An error that climbs toward 1 while the loss falls is more likely an accuracy under an error key."""
    errors, losses = curves.train_error, curves.train_loss
    if len(errors) < MIN_EPOCHS or len(losses) < MIN_EPOCHS:
        return False
    return errors[-1] - errors[0] > 0.2 and errors[-1] > 0.5 and losses[-1] < 0.9 * losses[0]


def assess_training(curves: TrainingCurves) -> TrainingHealth:
    """Read the curves: not learning, learning too slowly, unstable, ok, or unknown (too few epochs)."""
    looks_like_accuracy = _looks_like_accuracy(curves)
    if looks_like_accuracy:
        reason: str | None = (
            "train_error rises toward 1 while train_loss falls: this looks like an accuracy logged under an "
            "error key (log 1 - accuracy)"
        )
        return TrainingHealth("unknown", reason, chance_error(curves.n_classes), looks_like_accuracy=True)
    stuck = _at_chance(curves)
    if stuck is not None:
        return stuck
    reason = _unstable(curves)
    if reason is not None:
        return TrainingHealth("unstable", reason, chance_error(curves.n_classes))
    enough = max(len(curves.train_error), len(curves.dev_error), len(curves.train_loss)) >= MIN_EPOCHS
    return TrainingHealth("ok" if enough else "unknown", None, chance_error(curves.n_classes))
