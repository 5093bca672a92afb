"""What to try next: one knob at a time, built from the run's resolved config, ranked and capped.

Each gap has its knobs (Ng's basic recipe): avoidable bias -> a bigger network, longer training, a
better optimiser, less regularisation; variance -> more data, L2, dropout, augmentation, early stopping;
data mismatch -> training data more like the dev data; dev overfitting -> a bigger dev set. A run whose
training did not work gets the learning rate first, and never "train longer" or "a bigger network".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.diagnosis._health import TrainingHealth
from server.diagnosis._ladder import GAPS

#: Most recommendations a diagnosis gives: a short list someone acts on, not a catalogue.
MAX_RECOMMENDATIONS = 4
#: Most recommendations taken from one gap while another real gap waits for its turn.
PER_GAP = 3
#: The ``gap`` of advice about the training itself rather than one of the four gaps.
TRAINING = "training"
_SEARCH = "Search hyperparameters or try another architecture."


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice; with a ``path``, a one-click clone that sets that config field to ``value``."""

    gap: str
    text: str
    path: str | None = None
    value: object = None
    label: str = ""


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = config.get(name)
    return section if isinstance(section, Mapping) else {}


def _number(section: Mapping[str, Any], key: str) -> float | None:
    value = section.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(gap: str, text: str) -> Recommendation:
    return Recommendation(gap=gap, text=text)


def _knob(gap: str, path: str, value: object, text: str, label: str) -> Recommendation:
    """A one-click action that sets one config field."""
    return Recommendation(gap=gap, text=text, path=path, value=value, label=label)


def _bigger_network(model: Mapping[str, Any]) -> Recommendation:
    """Double every hidden size; advice only for models without ``hidden``."""
    hidden = model.get("hidden")
    sizes = [hidden] if isinstance(hidden, int) else hidden
    if not (isinstance(sizes, list | tuple) and sizes and all(type(h) is int and h > 0 for h in sizes)):
        return _text("avoidable_bias", "Train a bigger network (more layers or more units per layer).")
    doubled = [2 * h for h in sizes]
    old, new = (sizes[0], doubled[0]) if len(sizes) == 1 else (list(sizes), doubled)
    value = doubled[0] if isinstance(hidden, int) else doubled
    text = f"Train a bigger network: double the hidden units ({old} -> {new})."
    return _knob("avoidable_bias", "model.hidden", value, text, f"2x hidden units ({old} -> {new})")


def _train_longer(gap: str, hparams: Mapping[str, Any]) -> Recommendation:
    epochs = _number(hparams, "epochs")
    if isinstance(epochs, int) and epochs > 0:
        change = f"({epochs} -> {2 * epochs})"
        return _knob(
            gap,
            "hparams.epochs",
            2 * epochs,
            f"Train longer: double the epochs {change}.",
            f"2x epochs {change}",
        )
    return _text(gap, "Train longer.")


def _bias_actions(model: Mapping[str, Any], hparams: Mapping[str, Any]) -> list[Recommendation]:
    """Bigger network, train longer, better optimiser, less regularisation."""
    gap = "avoidable_bias"
    actions = [_bigger_network(model), _train_longer(gap, hparams)]
    optimizer = hparams.get("optimizer")
    if isinstance(optimizer, str) and optimizer != "adam":
        text = f"Use a better optimiser: Adam instead of {optimizer}."
        actions.append(_knob(gap, "hparams.optimizer", "adam", text, f"Adam ({optimizer} -> adam)"))
    l2 = _number(hparams, "l2")
    if l2 is not None and l2 > 0:
        change = f"({l2:g} -> {l2 / 2:g})"
        actions.append(
            _knob(
                gap,
                "hparams.l2",
                l2 / 2,
                f"Regularise less: halve the L2 strength {change}.",
                f"Halve L2 {change}",
            )
        )
    keep_prob = _number(hparams, "keep_prob")
    if keep_prob is not None and keep_prob < 1:
        text = f"Regularise less: turn dropout off (keep_prob {keep_prob:g} -> 1)."
        actions.append(_knob(gap, "hparams.keep_prob", 1.0, text, f"No dropout ({keep_prob:g} -> 1)"))
    actions.append(_text(gap, _SEARCH))
    return actions


def _variance_actions(hparams: Mapping[str, Any], dataset_kind: str | None) -> list[Recommendation]:
    """More data, L2, dropout, augmentation (images only), early stopping."""
    gap = "variance"
    actions: list[Recommendation | None] = []
    fraction = _number(hparams, "train_fraction")
    if fraction is not None and 0 < fraction < 1:
        new = min(1.0, fraction * 4)
        text = f"Train on more data: use {new:.0%} of the training set instead of {fraction:.0%}."
        label = f"More data (train_fraction {fraction:g} -> {new:g})"
        actions.append(_knob(gap, "hparams.train_fraction", new, text, label))
    else:
        actions.append(_text(gap, "Collect more training data."))
    l2 = _number(hparams, "l2")
    if l2 is not None and l2 >= 0:
        # .6g drops float noise such as 0.0010000000000000002
        new = 1e-3 if l2 == 0 else float(f"{l2 * 10:.6g}")
        text = f"{'Add' if l2 == 0 else 'Strengthen'} L2 regularisation (l2 {l2:g} -> {new:g})."
        actions.append(_knob(gap, "hparams.l2", new, text, f"L2 ({l2:g} -> {new:g})"))
    keep_prob = _number(hparams, "keep_prob")
    if keep_prob is not None and 0.5 < keep_prob <= 1:
        new = 0.8 if keep_prob == 1 else max(0.5, round(keep_prob - 0.1, 6))
        change = f"(keep_prob {keep_prob:g} -> {new:g})"
        text = f"{'Add' if keep_prob == 1 else 'Strengthen'} dropout {change}."
        actions.append(_knob(gap, "hparams.keep_prob", new, text, f"Dropout {change}"))
    if dataset_kind == "image" and "augment" in hparams and hparams["augment"] is not True:
        text = "Augment the training images (small shifts, rotations and noise)."
        actions.append(_knob(gap, "hparams.augment", True, text, "Augment data"))
    actions.append(_early_stopping(gap, hparams))
    actions.append(_text(gap, _SEARCH))
    return [a for a in actions if a is not None]


def _early_stopping(gap: str, hparams: Mapping[str, Any]) -> Recommendation | None:
    if "early_stopping_patience" in hparams and hparams["early_stopping_patience"] is None:
        text = "Stop early once dev error stops improving (patience 5 epochs), keeping the best epoch."
        return _knob(gap, "hparams.early_stopping_patience", 5, text, "Early stopping (patience 5)")
    return None


def recommend(
    gap: str, config: Mapping[str, Any] | None = None, *, dataset_kind: str | None = None
) -> tuple[Recommendation, ...]:
    """What to try for one gap, one knob at a time, built from the run's resolved config."""
    if gap not in GAPS:
        raise ValueError(f"gap must be one of {GAPS}, but got {gap=}")
    config = config if isinstance(config, Mapping) else {}
    if gap == "avoidable_bias":
        return tuple(_bias_actions(_section(config, "model"), _section(config, "hparams")))
    if gap == "variance":
        return tuple(_variance_actions(_section(config, "hparams"), dataset_kind))
    if gap == "data_mismatch":
        return (
            _text(
                gap,
                "Make the training data more like the dev data: synthesise similar examples "
                "or collect more training examples like those in the dev set.",
            ),
            _text(gap, "Do error analysis on train-dev and dev examples to see how the dev data differs."),
        )
    return (_text(gap, "Get a bigger dev set: repeated tuning has overfit the current one."),)


def _scaled_lr(hparams: Mapping[str, Any], factor: float) -> tuple[float, str] | None:
    lr = _number(hparams, "lr")
    if lr is None or lr <= 0:
        return None
    new = float(f"{lr * factor:.3g}")
    return new, f"(lr {lr:g} -> {new:g})"


def training_actions(health: TrainingHealth, config: Mapping[str, Any] | None) -> list[Recommendation]:
    """Advice for a run whose training itself failed: the learning rate first, then what steadies it."""
    config = config if isinstance(config, Mapping) else {}
    hparams = _section(config, "hparams")
    actions: list[Recommendation] = []
    if health.status == "learning_slowly":
        scaled = _scaled_lr(hparams, 10.0)
        text = "Raise the learning rate: the loss falls, but too slowly to leave chance"
        if scaled:
            actions.append(
                _knob(
                    TRAINING,
                    "hparams.lr",
                    scaled[0],
                    f"{text} {scaled[1]}.",
                    f"10x learning rate {scaled[1]}",
                )
            )
        else:
            actions.append(_text(TRAINING, f"{text}."))
        optimizer = hparams.get("optimizer")
        if isinstance(optimizer, str) and optimizer in ("sgd", "momentum"):
            text = f"Use Adam instead of {optimizer}: it adapts the step size per parameter."
            actions.append(_knob(TRAINING, "hparams.optimizer", "adam", text, f"Adam ({optimizer} -> adam)"))
        return actions
    if health.status not in ("not_learning", "unstable"):
        return actions
    factor = 0.1 if health.status == "not_learning" else 1 / 3
    scaled = _scaled_lr(hparams, factor)
    why = "the network did not learn" if health.status == "not_learning" else "training is unstable"
    if scaled:
        label = f"{'10x' if factor == 0.1 else '3x'} lower learning rate {scaled[1]}"
        actions.append(
            _knob(TRAINING, "hparams.lr", scaled[0], f"Lower the learning rate: {why} {scaled[1]}.", label)
        )
    else:
        actions.append(_text(TRAINING, f"Lower the learning rate: {why}."))
    if health.status == "unstable":
        if "grad_clip" not in hparams or hparams.get("grad_clip") is None:
            text = "Clip the gradient norm (grad_clip 1) so that one bad batch cannot throw the weights off."
            actions.append(_knob(TRAINING, "hparams.grad_clip", 1.0, text, "Gradient clipping (norm 1)"))
        actions.append(_text(TRAINING, "Warm the learning rate up over the first epochs, then decay it."))
        early = _early_stopping(TRAINING, hparams)
        if early is not None:
            actions.append(early)
        return actions
    if hparams.get("normalize") is False:
        text = "Standardise the inputs (normalize on): unscaled inputs make one learning rate fit no layer."
        actions.append(_knob(TRAINING, "hparams.normalize", True, text, "Standardise inputs"))
    actions.append(
        _text(
            TRAINING,
            "If a lower learning rate does not help, check the data: labels aligned with inputs, "
            "inputs scaled.",
        )
    )
    return actions


#: Advice that cannot help a run whose training failed (API: never "train longer" or "a bigger network").
_NOT_FOR_FAILED_TRAINING = {"model.hidden", "hparams.epochs", "hparams.optimizer"}


def _grows_or_lengthens(action: Recommendation) -> bool:
    """A bigger network, longer training or another optimiser: what a run that did not learn must not get."""
    return (
        action.path in _NOT_FOR_FAILED_TRAINING
        or "bigger network" in action.text
        or action.text.startswith("Train longer")
    )


def rank_recommendations(
    ranked_gaps: Sequence[str],
    config: Mapping[str, Any] | None,
    *,
    health: TrainingHealth,
    dataset_kind: str | None = None,
    stopped_early: bool = False,
) -> tuple[Recommendation, ...]:
    """At most MAX_RECOMMENDATIONS, training advice first, then by gap size; no text or knob twice.

    Each gap gives at most PER_GAP while another real gap waits, so the second gap still gets a voice. Knob
    advice comes before text advice within a gap; the first recommendation to turn a knob keeps it (a
    bigger gap's "halve L2" is not followed by a smaller gap's "strengthen L2").
    """
    training = training_actions(health, config)
    pools: list[list[Recommendation]] = [training] if training else []
    for gap in ranked_gaps:
        actions = list(recommend(gap, config, dataset_kind=dataset_kind))
        if training and health.status != "learning_slowly":
            actions = [a for a in actions if not _grows_or_lengthens(a) and a.text != _SEARCH]
        if stopped_early:  # dev error had stopped improving: more epochs would only be cut off again
            actions = [a for a in actions if a.path != "hparams.epochs" and a.text != "Train longer."]
        actions.sort(key=lambda a: a.path is None)  # stable: knobs first, each group in the gap's order
        pools.append(actions)
    chosen: list[Recommendation] = []
    texts: set[str] = set()
    paths: set[str] = set()
    for index, pool in enumerate(pools):
        others_wait = index + 1 < len(pools)
        taken = 0
        for action in pool:
            if len(chosen) == MAX_RECOMMENDATIONS or (others_wait and taken == PER_GAP):
                break
            if action.text in texts or (action.path is not None and action.path in paths):
                continue
            chosen.append(action)
            texts.add(action.text)
            if action.path is not None:
                paths.add(action.path)
            taken += 1
    return tuple(chosen)
