"""Trainboard: the CLI, the settings and the client library for training scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainboard.client import Client, Run, TrainboardError, init

__all__ = ["Client", "Run", "TrainboardError", "init"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `trainboard.settings` (read by the server) does not pull in the HTTP client.
    if name in __all__:
        from trainboard import client

        return getattr(client, name)
    raise AttributeError(f"module 'trainboard' has no attribute {name!r}")
