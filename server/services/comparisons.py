"""Runs side by side: their config differences and their diagnoses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.diagnosis import Diagnosis
from server.errors import InvalidInput
from server.schemas import MAX_ID, RunRead
from server.services import analysis, runs

MIN_RUNS, MAX_RUNS = 2, 10
MISSING = "—"


@dataclass(frozen=True)
class ConfigRow:
    """One dotted config key with each run's value (as text) and whether they differ."""

    key: str
    values: list[str]
    differs: bool


@dataclass(frozen=True)
class Comparison:
    runs: list[RunRead]
    diagnoses: list[Diagnosis]
    rows: list[ConfigRow]  # differing keys first, each group in key order

    @property
    def differing(self) -> list[ConfigRow]:
        return [row for row in self.rows if row.differs]

    @property
    def same(self) -> list[ConfigRow]:
        return [row for row in self.rows if not row.differs]


def parse_run_ids(values: list[str]) -> list[int]:
    """ "1,2,3" (or repeated ?runs=) -> [1, 2, 3], each once, in order; InvalidInput naming `runs`."""
    ids: list[int] = []
    for part in ",".join(values).split(","):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= MAX_ID:
            raise InvalidInput(["query", "runs"], f"runs: expected run ids such as 1,2,3, but got {part!r}")
        if int(part) not in ids:
            ids.append(int(part))
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise InvalidInput(
            ["query", "runs"], f"runs: choose {MIN_RUNS} to {MAX_RUNS} runs to compare, but got {len(ids)}"
        )
    return ids


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def flatten(run: RunRead) -> dict[str, str]:
    """The run's config and params as dotted keys: model.hidden, hparams.lr, params.seed_note."""
    config = run.config or {}
    flat = {
        f"{section}.{key}": _text(v)
        for section in ("model", "hparams")
        for key, v in (config.get(section) or {}).items()
    }
    flat.update({f"params.{key}": _text(v) for key, v in run.params.items()})
    return flat


def compare_runs(*, session: Session, run_ids: list[int]) -> Comparison:
    """The runs (NotFound for an unknown id), their config rows and their diagnoses."""
    reads = [runs.to_read(runs.get_run(session=session, run_id=run_id)) for run_id in run_ids]
    flats = [flatten(read) for read in reads]
    keys = sorted({key for flat in flats for key in flat})
    rows = []
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        rows.append(ConfigRow(key, values, differs=len(set(values)) > 1))
    rows.sort(key=lambda row: not row.differs)  # stable: key order within each group
    diagnoses = [analysis.diagnose_run(session=session, run_id=read.id) for read in reads]
    return Comparison(runs=reads, diagnoses=diagnoses, rows=rows)
