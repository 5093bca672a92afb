"""The project page's runs table beyond its fixed columns: the columns a user picks (any param, any summary
metric; remembered per project in a cookie), the seed-group rows (mean +/- std of each run metric shown),
and the bulk tag/archive form's handler."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import GroupMetric, GroupRead, RunRead
from server.services.exports import run_params
from server.tables import Run, RunSummary

#: How many columns a user may add; the cookie that remembers them stays far below 4 KB.
MAX_PICKED = 20
PICKED_PATTERN = re.compile(r"^(params|metrics)\.[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,249}$")
#: Keys offered in the picker: the params and metrics of the project's newest runs.
OFFERED_KEYS = 200
PARAMS_SAMPLE = 200
#: The run metrics a group row shows as mean +/- std (the table's fixed error columns).
GROUP_METRICS = ("train_error", "train_dev_error", "dev_error", "test_error")


def cookie_name(project_id: int) -> str:
    return f"tb_columns_{int(project_id)}"


def parse_picked(values: Iterable[str]) -> list[str]:
    """The picked columns that are well formed (``params.KEY`` or ``metrics.KEY``), each once, at most
    MAX_PICKED; anything else is dropped (a cookie from an older version must not break the page)."""
    picked: list[str] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if PICKED_PATTERN.match(item) and item not in picked:
                picked.append(item)
    return picked[:MAX_PICKED]


@dataclass(frozen=True)
class PickedColumn:
    name: str  # "params.lr", "metrics.val/f1"
    label: str
    numeric: bool


def picked_columns(names: list[str]) -> list[PickedColumn]:
    return [PickedColumn(n, n.split(".", 1)[1], n.startswith("metrics.")) for n in names]


def format_metric(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.endswith("error"):
        return f"{value * 100:.2f} %"
    return f"{value:.4g}"


def cell(run: RunRead, column: PickedColumn) -> str:
    """The run's value in a picked column, as text ("—" when it has none)."""
    source, key = column.name.split(".", 1)
    if source == "metrics":
        return format_metric(key, run.summary.get(key))
    value = run_params(run.params, run.config).get(key)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def offered(session: Session, project_id: int) -> tuple[list[str], list[str]]:
    """(param keys, metric keys) the picker offers: those of the project's newest PARAMS_SAMPLE runs (at
    10,000 runs, reading every run's keys cost more than the rest of the page)."""
    # The ids first, then the keys of those runs by their primary keys: with the ids as a subquery,
    # PostgreSQL hashed them and scanned every summary and run of the database (19 ms at 10,000 runs).
    newest = list(
        session.scalars(
            select(Run.id).where(Run.project_id == project_id).order_by(Run.id.desc()).limit(PARAMS_SAMPLE)
        )
    )
    metric_keys = session.scalars(
        select(RunSummary.key)
        .where(RunSummary.run_id.in_(newest))
        .distinct()
        .order_by(RunSummary.key)
        .limit(OFFERED_KEYS)
    ).all()
    rows = session.execute(select(Run.params, Run.config).where(Run.id.in_(newest)))
    param_keys: set[str] = set()
    for params, config in rows:
        param_keys.update(k for k in run_params(params or {}, config) if PICKED_PATTERN.match(f"params.{k}"))
    return sorted(param_keys)[:OFFERED_KEYS], list(metric_keys)


@dataclass
class GroupRow:
    """One seed group on the page: its runs there, how many it has in all, and mean +/- std of each
    metric over its succeeded runs (services.groups)."""

    name: str
    run_ids: list[int]
    n: int
    stats: Mapping[str, GroupMetric] = field(default_factory=dict)

    def metric(self, key: str) -> str:
        """ "mean ± std" as the table shows it (std only with two succeeded runs or more)."""
        found = self.stats.get(key)
        if found is None:
            return "—"
        mean = format_metric(key, found.mean)
        if found.std is None:
            return mean
        if key.endswith("error"):
            return f"{found.mean * 100:.2f} ± {found.std * 100:.2f} %"
        return f"{mean} ± {found.std:.2g}"


def group_rows(runs: list[RunRead], reads: Mapping[str, GroupRead]) -> dict[str, GroupRow]:
    """The page's groups with two runs or more on it (a lone member stays a plain row), by name."""
    members: dict[str, list[int]] = {}
    for run in runs:
        if run.group:
            members.setdefault(run.group, []).append(run.id)
    return {
        name: GroupRow(name, ids, reads[name].n, reads[name].summary)
        for name, ids in members.items()
        if len(ids) > 1 and name in reads
    }


def row_values(runs: list[RunRead], columns: list[PickedColumn]) -> dict[int, list[str]]:
    return {run.id: [cell(run, c) for c in columns] for run in runs}


def group_values(groups: Mapping[str, GroupRow], columns: list[PickedColumn]) -> dict[str, list[str]]:
    """Each group row's picked cells: metrics as mean ± std, params left blank."""
    return {
        name: [row.metric(c.name.split(".", 1)[1]) if c.numeric else "" for c in columns]
        for name, row in groups.items()
    }
