"""What both integrations do with a trainboard run: start it with the hyperparameters as params, log a
batch of metrics without ever stopping training, and finish it."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import trainboard
from trainboard.client import BaseRun, Client
from trainboard.integrations._keys import loggable

logger = logging.getLogger("trainboard.integrations")


def scalar_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The values a params table can show: strings, booleans and finite numbers (None, lists, dicts,
    objects and NaN left out), each name under `prefix`."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
            value = value.item()  # a numpy or torch scalar
        if isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value)):
            kept[f"{prefix}{key}"] = value
    return kept


def start_run(
    *,
    project: str | None,
    name: str | None,
    params: Mapping[str, Any],
    group: str | None,
    client: Client | None,
) -> BaseRun:
    """A run of `project` (None: the client library's default, TRAINBOARD_PROJECT) with `params`."""
    options: dict[str, Any] = {"project": project, "name": name, "params": dict(params), "group": group}
    if client is not None:
        options["client"] = client
    return trainboard.init(**options)


def log_metrics(run: BaseRun, metrics: Mapping[str, float], step: int) -> None:
    """Log what the client library accepts, warn about the rest; a run already finished (an evaluation
    after training) sends at once, since its background sender has stopped."""
    kept, problems = loggable(metrics)
    for problem in problems:
        logger.warning("trainboard: not logged: %s", problem)
    if kept:
        run.log(kept, step=step)
        if run.finished and hasattr(run, "flush"):
            run.flush()
