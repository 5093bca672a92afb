"""Trainboard: the CLI, the settings and the client library for training scripts.

import trainboard
run = trainboard.init(project="digits", config={"lr": 0.01})
trainboard.log({"train_error": 0.1, "dev_error": 0.12})
trainboard.finish()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainboard._base import BaseRun
    from trainboard.client import Client, Run, TrainboardError, finish, init, log

    run: BaseRun | None

__all__ = ["Client", "Run", "TrainboardError", "finish", "init", "log", "run"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `trainboard.settings` (read by the server) does not pull in the HTTP client.
    if name == "run":  # the run trainboard.init() started last (None before, and after trainboard.finish())
        from trainboard import _session

        return _session.current
    if name in __all__:
        from trainboard import client

        return getattr(client, name)
    raise AttributeError(f"module 'trainboard' has no attribute {name!r}")
