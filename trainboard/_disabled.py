"""mode="disabled": a run that sends nothing and writes nothing, for unit tests and CI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trainboard._base import BaseRun, Point
from trainboard._http import check_artifact_name, check_split, check_status


class DisabledRun(BaseRun):
    """Every call works and checks its arguments as a real run would, but nothing leaves the process:
    `config` and `summary` hold what the script gave and logged, `url` is None."""

    mode = "disabled"

    def __init__(self, *, name: str | None, params: Mapping[str, Any] | None) -> None:
        run_id = f"disabled-{uuid.uuid4().hex[:8]}"
        super().__init__(run_id=run_id, name=name or run_id, params=params)

    def _record(self, points: list[Point]) -> None:
        pass

    def log_predictions(self, split: str, predictions: Iterable[Mapping[str, Any]]) -> int:
        check_split(split)
        return sum(1 for _ in predictions)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Nothing is stored while tracking is disabled."""
        check_artifact_name(name if name is not None else Path(path).name)

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        check_status(status)
        self.finished = True
