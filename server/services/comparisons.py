"""Runs side by side: their config (and environment) differences and their diagnoses."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from server.diagnosis import Diagnosis
from server.errors import InvalidInput
from server.ids import parse_id
from server.schemas import RunRead
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


def run_ids_in(values: list[str], field: str = "runs") -> list[int]:
    """ "1,2,3" (or repeated ?runs=) -> [1, 2, 3], each once, in order; InvalidInput naming `field`."""
    ids: list[int] = []
    for part in ",".join(values).split(","):
        part = part.strip()
        if not part:
            continue
        ident = parse_id(part)
        if ident is None:
            raise InvalidInput(["query", field], f"{field}: expected run ids such as 1,2,3, but got {part!r}")
        if ident not in ids:
            ids.append(ident)
    return ids


def parse_run_ids(values: list[str]) -> list[int]:
    """The runs to compare (see `run_ids_in`): two to ten of them, else InvalidInput naming `runs`."""
    ids = run_ids_in(values)
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise InvalidInput(
            ["query", "runs"], f"runs: choose {MIN_RUNS} to {MAX_RUNS} runs to compare, but got {len(ids)}"
        )
    return ids


#: The environment's keys in the order a reader looks for them; others follow in key order.
ENVIRONMENT_ORDER = ("git_commit", "git_dirty", "argv", "device", "gpu", "torch", "cuda", "python", "host")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def environment_rows(environment: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(key, text) of each environment entry: argv as the command line that ran, flags as yes / no."""
    found = environment or {}
    keys = [k for k in ENVIRONMENT_ORDER if k in found] + sorted(
        k for k in found if k not in ENVIRONMENT_ORDER
    )
    rows = []
    for key in keys:
        value = found[key]
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, list) and all(isinstance(part, str) for part in value):
            text = shlex.join(value)
        else:
            text = _text(value)
        rows.append((key, text))
    return rows


def flatten(run: RunRead) -> dict[str, str]:
    """The run's config, params and environment as dotted keys: model.hidden, hparams.lr, params.seed_note,
    environment.git_commit."""
    config = run.config or {}
    flat = {
        f"{section}.{key}": _text(v)
        for section in ("model", "hparams")
        for key, v in (config.get(section) or {}).items()
    }
    flat.update({f"params.{key}": _text(v) for key, v in run.params.items()})
    flat.update({f"environment.{key}": text for key, text in environment_rows(run.environment)})
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
