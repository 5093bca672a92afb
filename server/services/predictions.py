"""Predictions in (idempotent per run, split, task and example) and the misclassified examples out."""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.orm import Session

from server.schemas import ErrorItem, ErrorsPage, PredictionIn
from server.services.prediction_counts import count_errors, prediction_counts, refresh_prediction_counts
from server.services.prediction_tasks import resolve_task, task_is
from server.services.runs import get_run
from server.services.upsert import insert_for
from server.tables import ExampleTag, Prediction, Run, Tag

CHUNK = 5000
ANALYZE_AFTER = 10_000
_INT = re.compile(r"^-?\d{1,18}$")
ErrorSort = Literal["confidence", "-confidence", "loss", "-loss", "example_id", "-example_id"]


def label_out(value: str) -> int | str:
    """Labels are stored as text; whole numbers come back as the integers that were sent."""
    return int(value) if _INT.match(value) else value


def _by_task(
    session: Session, run: Run, predictions: list[PredictionIn]
) -> dict[str | None, list[PredictionIn]]:
    """The predictions grouped by task, each task checked against the run's (InvalidInput at the first bad
    one)."""
    checked: dict[str | None, list[PredictionIn]] = {}
    for i, p in enumerate(predictions):
        if p.task not in checked:
            resolve_task(session=session, run=run, task=p.task, field=("body", "predictions", i, "task"))
        checked.setdefault(p.task, []).append(p)
    return checked


def ingest_predictions(*, session: Session, run_id: int, split: str, predictions: list[PredictionIn]) -> int:
    """Store each example's prediction once per (run, split, task); a repeat replaces the earlier one.

    A multi-task run's predictions each name one of its tasks; a single-task run's name none."""
    run = get_run(session=session, run_id=run_id)
    stored = 0
    for task, batch in _by_task(session, run, predictions).items():
        stored += _upsert(session, run_id=run_id, split=split, task=task, predictions=batch)
    if stored >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # Fresh statistics right away: until autovacuum gets to it, PostgreSQL believes a just-filled table
        # is empty and picks nested loops that turn a 50 ms tag filter into 30 s.
        session.execute(text("ANALYZE predictions"))
    session.commit()
    return stored


def _upsert(
    session: Session, *, run_id: int, split: str, task: str | None, predictions: list[PredictionIn]
) -> int:
    rows = list(
        {
            p.example_id: {
                "run_id": run_id,
                "split": split,
                "task": task,
                "example_id": p.example_id,
                "label": str(p.label),
                "predicted": str(p.predicted),
                "is_error": str(p.label) != str(p.predicted),
                "confidence": p.confidence,
                "loss": p.loss,
            }
            for p in predictions
        }.values()
    )
    insert = insert_for(session, Prediction)
    # The conflict target names the partial unique index that holds this task's rows (see Prediction).
    statement = insert.on_conflict_do_update(
        index_elements=["run_id", "split", "example_id"]
        if task is None
        else ["run_id", "split", "task", "example_id"],
        index_where=Prediction.task.is_(None) if task is None else Prediction.task.is_not(None),
        set_={
            name: insert.excluded[name] for name in ("label", "predicted", "is_error", "confidence", "loss")
        },
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start : start + CHUNK])
    refresh_prediction_counts(session=session, run_id=run_id, split=split, task=task)
    return len(rows)


def _filtered(
    query: Select[Prediction],
    *,
    project_id: int,
    label: str | None,
    predicted: str | None,
    tag: str | None,
    untagged: bool,
    min_confidence: float | None,
    max_confidence: float | None,
) -> Select[Prediction]:
    if label is not None:
        query = query.where(Prediction.label == label)
    if predicted is not None:
        query = query.where(Prediction.predicted == predicted)
    if min_confidence is not None:
        query = query.where(Prediction.confidence >= min_confidence)
    if max_confidence is not None:
        query = query.where(Prediction.confidence <= max_confidence)
    # Uncorrelated IN / NOT IN: one pass over the project's tags (a hash semi- or anti-join), where a
    # correlated EXISTS probed example_tags once per error and took seconds on PostgreSQL at 100,000 rows.
    tagged = select(ExampleTag.example_id).where(ExampleTag.project_id == project_id)
    if tag is not None:
        tag_ids = select(Tag.id).where(Tag.project_id == project_id, Tag.name == tag)
        query = query.where(Prediction.example_id.in_(tagged.where(ExampleTag.tag_id.in_(tag_ids))))
    if untagged:
        query = query.where(Prediction.example_id.not_in(tagged))
    return query


def _tagged_errors(
    session: Session,
    *,
    run_id: int,
    split: str,
    task: str | None,
    project_id: int,
    tag: str | None,
    label: str | None,
    predicted: str | None,
) -> int:
    # Driven from the project's tagged examples (thousands) into the predictions' primary key, so it never
    # walks all 25,000 errors of a 100,000-prediction run.
    tagged = select(ExampleTag.example_id).where(ExampleTag.project_id == project_id)
    if tag is not None:
        tagged = tagged.where(
            ExampleTag.tag_id.in_(select(Tag.id).where(Tag.project_id == project_id, Tag.name == tag))
        )
    examples = tagged.distinct().subquery()
    on = and_(
        Prediction.run_id == run_id,
        Prediction.split == split,
        task_is(Prediction.task, task),
        Prediction.example_id == examples.c.example_id,
    )
    counted = (
        select(func.count()).select_from(examples).join(Prediction, on).where(Prediction.is_error.is_(True))
    )
    if label is not None:
        counted = counted.where(Prediction.label == label)
    if predicted is not None:
        counted = counted.where(Prediction.predicted == predicted)
    return session.scalar(counted) or 0


def _total(
    session: Session,
    query: Select[Prediction],
    *,
    run_id: int,
    split: str,
    task: str | None,
    project_id: int,
    label: str | None,
    predicted: str | None,
    tag: str | None,
    untagged: bool,
    confidence_range: bool,
) -> int:
    """How many errors pass the filters, read off the stored counts where they can tell."""
    if confidence_range or (tag is not None and untagged):
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if tag is not None:
        return _tagged_errors(
            session,
            run_id=run_id,
            split=split,
            task=task,
            project_id=project_id,
            tag=tag,
            label=label,
            predicted=predicted,
        )
    cells = prediction_counts(session=session, run_id=run_id, split=split, task=task)
    errors = count_errors(cells, label=label, predicted=predicted)
    if not untagged:
        return errors
    return errors - _tagged_errors(
        session,
        run_id=run_id,
        split=split,
        task=task,
        project_id=project_id,
        tag=None,
        label=label,
        predicted=predicted,
    )


def list_errors(
    *,
    session: Session,
    run_id: int,
    split: str,
    task: str | None = None,
    label: str | None = None,
    predicted: str | None = None,
    tag: str | None = None,
    untagged: bool = False,
    min_confidence: float | None = None,
    max_confidence: float | None = None,
    sort: ErrorSort = "-confidence",
    limit: int = 50,
    offset: int = 0,
) -> ErrorsPage:
    """The run's misclassified examples of one split (of one task, for a multi-task run), filtered, sorted
    and paged, with their tags."""
    run = get_run(session=session, run_id=run_id)
    task = resolve_task(session=session, run=run, task=task)
    query = select(Prediction).where(
        Prediction.run_id == run_id,
        Prediction.split == split,
        task_is(Prediction.task, task),
        Prediction.is_error.is_(True),
    )
    query = _filtered(
        query,
        project_id=run.project_id,
        label=label,
        predicted=predicted,
        tag=tag,
        untagged=untagged,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
    )
    total = _total(
        session,
        query,
        run_id=run_id,
        split=split,
        task=task,
        project_id=run.project_id,
        label=label,
        predicted=predicted,
        tag=tag,
        untagged=untagged,
        confidence_range=min_confidence is not None or max_confidence is not None,
    )
    column = getattr(Prediction, sort.lstrip("-"))
    order = column.desc() if sort.startswith("-") else column.asc()
    page = list(
        session.scalars(query.order_by(order.nulls_last(), Prediction.example_id).limit(limit).offset(offset))
    )
    tags = tags_of(session=session, project_id=run.project_id, example_ids=[p.example_id for p in page])
    items = [
        ErrorItem(
            example_id=p.example_id,
            task=p.task,
            label=label_out(p.label),
            predicted=label_out(p.predicted),
            confidence=p.confidence,
            loss=p.loss,
            tags=tags.get(p.example_id, []),
        )
        for p in page
    ]
    return ErrorsPage(total=total, limit=limit, offset=offset, items=items)


def tags_of(*, session: Session, project_id: int, example_ids: list[str]) -> dict[str, list[str]]:
    """Each example's tag names, sorted."""
    if not example_ids:
        return {}
    rows = session.execute(
        select(ExampleTag.example_id, Tag.name)
        .join(Tag, Tag.id == ExampleTag.tag_id)
        .where(ExampleTag.project_id == project_id, ExampleTag.example_id.in_(example_ids))
        .order_by(Tag.name)
    )
    result: dict[str, list[str]] = {}
    for example_id, name in rows:
        result.setdefault(example_id, []).append(name)
    return result
