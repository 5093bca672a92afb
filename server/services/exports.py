"""Downloads for spreadsheets and notebooks: the runs table (runs x params and summary metrics) and one
metric series with its timestamps, as CSV (cells defused by ``server.csv_export``) or JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic_core import to_json
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.csv_export import to_csv
from server.errors import InvalidInput
from server.schemas import as_utc
from server.services.runs.lifecycle import get_run
from server.services.runs.pages import RunFilters
from server.tables import MetricPoint, Run, RunSummary

#: The most runs one runs.csv holds (newest first); X-Total-Count says how many matched.
MAX_EXPORT_RUNS = 10_000
#: Points read per round trip while a series streams out.
SERIES_CHUNK = 5_000
RUN_COLUMNS = ("id", "name", "status", "group", "tags", "created_at", "finished_at")


def run_params(params: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
    """A run's params as the table and the filter's ``params.X`` see them: its own, else its config's
    hyperparameters (a queued run's)."""
    hparams = (config or {}).get("hparams")
    merged = dict(hparams) if isinstance(hparams, dict) else {}
    merged.update(params or {})
    return merged


def runs_table(session: Session, filters: RunFilters) -> tuple[str, int]:
    """The matching runs' CSV (newest first, at most MAX_EXPORT_RUNS) and how many matched."""
    connection = session.connection()
    where = filters.clauses()
    params = filters.params()
    total = int(connection.execute(select(func.count()).select_from(Run).where(*where), params).scalar_one())
    columns = [getattr(Run, name) for name in RUN_COLUMNS]
    rows = connection.execute(
        select(*columns, Run.params, Run.config).where(*where).order_by(Run.id.desc()).limit(MAX_EXPORT_RUNS),
        params,
    ).all()
    ids = [row[0] for row in rows]
    summaries: dict[int, dict[str, float]] = {run_id: {} for run_id in ids}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found = select(RunSummary.run_id, RunSummary.key, RunSummary.value).where(
            RunSummary.run_id.in_(chunk)
        )
        for run_id, key, value in connection.execute(found):
            summaries[run_id][key] = value
    run_params_ = {row[0]: run_params(row[-2], row[-1]) for row in rows}
    param_keys = sorted({k for p in run_params_.values() for k in p})
    metric_keys = sorted({k for s in summaries.values() for k in s})
    header = [*RUN_COLUMNS, *(f"params.{k}" for k in param_keys), *(f"metrics.{k}" for k in metric_keys)]
    body = []
    for row in rows:
        run_id = row[0]
        plain: list[object] = [
            " ".join(v) if name == "tags" else as_utc(v).isoformat() if name.endswith("_at") and v else v
            for name, v in zip(RUN_COLUMNS, row[: len(RUN_COLUMNS)], strict=True)
        ]
        p = run_params_[run_id]
        plain += [_cell(p.get(k)) for k in param_keys]
        plain += [summaries[run_id].get(k) for k in metric_keys]
        body.append(plain)
    return to_csv(header, body), total


def _cell(value: Any) -> object:
    """A param's cell: scalars as they are, lists and objects as JSON."""
    if isinstance(value, dict | list):
        return to_json(value).decode()
    return value


def series_export(session: Session, run_id: int, key: str, fmt: str) -> Iterator[bytes]:
    """Every point of the run's series ``key`` (step, value, timestamp), streamed as CSV or JSON."""
    if fmt not in ("csv", "json"):
        raise InvalidInput(["query", "format"], "format is csv or json")
    get_run(session=session, run_id=run_id)
    connection = session.connection()
    query = (
        select(MetricPoint.step, MetricPoint.value, MetricPoint.timestamp)
        .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
        .order_by(MetricPoint.step)
    )
    first = True
    if fmt == "csv":
        yield b"step,value,timestamp\n"
    else:
        yield b'{"run_id":%d,"key":%s,"points":[' % (run_id, to_json(key))
    last_step = -1
    while True:
        chunk = connection.execute(query.where(MetricPoint.step > last_step).limit(SERIES_CHUNK)).all()
        if not chunk:
            break
        last_step = chunk[-1][0]
        if fmt == "csv":
            yield to_csv([], [(s, v, as_utc(t).isoformat()) for s, v, t in chunk]).lstrip("\n").encode()
        else:
            items = [{"step": s, "value": v, "timestamp": as_utc(t).isoformat()} for s, v, t in chunk]
            text = to_json(items, inf_nan_mode="null")[1:-1]
            yield (b"" if first else b",") + text
            first = False
    if fmt == "json":
        yield b"]}"
