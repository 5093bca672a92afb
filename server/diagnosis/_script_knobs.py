"""The advice's knobs in a user's own script: which of its parameters is the learning rate, the epochs, L2...

The advice reads a built-in run's config (``hparams.lr``, ``model.hidden``). A script names its parameters
as it likes; one whose last dotted part is a knob's usual name (``lr`` or ``optimizer.learning_rate``,
``epochs``, ``weight_decay``) is taken for that knob, when exactly one parameter matches. Advice on a knob
the script does not have stays advice, with nothing to click.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from server.diagnosis._advice import Recommendation
from trainboard.params import flatten

#: Each knob the advice may turn, and the names a script's parameter may carry for it (its last part).
KNOB_NAMES: dict[str, tuple[str, ...]] = {
    "hparams.lr": ("lr", "learning_rate"),
    "hparams.epochs": ("epochs", "num_epochs", "max_epochs", "num_train_epochs"),
    "hparams.l2": ("l2", "weight_decay"),
    "hparams.keep_prob": ("keep_prob",),
    "hparams.train_fraction": ("train_fraction",),
    "hparams.grad_clip": ("grad_clip", "max_grad_norm"),
    "hparams.early_stopping_patience": ("early_stopping_patience",),
    "hparams.augment": ("augment",),
    "hparams.normalize": ("normalize",),
    "hparams.optimizer": ("optimizer",),
    "model.hidden": ("hidden",),
}
#: Optimizer names the advice knows (it proposes "adam"); a script's own names ("AdamW") are left alone.
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


@dataclass(frozen=True)
class ScriptKnobs:
    """A script run's parameters as the advice reads a config, and each knob's parameter name."""

    config: dict[str, dict[str, Any]]
    paths: dict[str, str]

    def repoint(self, recommendations: Sequence[Recommendation]) -> tuple[Recommendation, ...]:
        """The advice with each knob's path renamed to the script's parameter (none: text only)."""
        return tuple(
            r if r.path is None else replace(r, path=self.paths.get(r.path)) for r in recommendations
        )


def script_knobs(params: Mapping[str, Any]) -> ScriptKnobs:
    """Find the knobs among a script run's parameters (nested or dotted)."""
    flat = flatten(params)
    config: dict[str, dict[str, Any]] = {"model": {}, "hparams": {}}
    paths: dict[str, str] = {}
    for knob, names in KNOB_NAMES.items():
        found = [path for path in flat if path.rsplit(".", 1)[-1] in names]
        if len(found) != 1:
            continue
        value = flat[found[0]]
        if knob == "hparams.optimizer" and value not in OPTIMIZERS:
            continue
        section, key = knob.split(".")
        config[section][key] = value
        paths[knob] = found[0]
    return ScriptKnobs(config, paths)
