"""Factories for rows the tests need, so tests state only what matters to them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from server.schemas import MetricPointIn, PredictionIn
from server.services.metrics import ingest_metrics
from server.services.predictions import ingest_predictions
from server.tables import GradientCheck, Project, Run

_counter = itertools.count(1)


def make_project(session: Session, **overrides: Any) -> Project:
    fields: dict[str, Any] = {"name": f"project-{next(_counter)}", "dataset": "digits", "satisficing": []}
    fields.update(overrides)
    project = Project(**fields)
    session.add(project)
    session.commit()
    return project


def make_run(session: Session, project: Project, **overrides: Any) -> Run:
    fields: dict[str, Any] = {
        "project_id": project.id,
        "name": f"run-{next(_counter)}",
        "status": "succeeded",
        "config": {"model": {"name": "mlp", "hidden": [64]}, "hparams": {"epochs": 3, "lr": 0.01}},
        "params": {},
        "created_at": datetime.now(UTC),
    }
    fields.update(overrides)
    run = Run(**fields)
    session.add(run)
    session.commit()
    return run


def make_gradcheck(session: Session, **overrides: Any) -> GradientCheck:
    """A queued gradient check (as POST /gradcheck records it before a worker runs it)."""
    fields: dict[str, Any] = {
        "id": f"6f1c1d4e-0000-4000-8000-{next(_counter):012d}",
        "status": "queued",
        "dataset": "digits",
        "config": {"model": {"name": "mlp"}},
        "batch_size": 4,
        "parameters": [],
        "created_at": datetime.now(UTC),
    }
    fields.update(overrides)
    check = GradientCheck(**fields)
    session.add(check)
    session.commit()
    return check


def log_points(session: Session, run: Run, series: dict[str, list[float]], first_step: int = 1) -> None:
    """Log each series with steps first_step, first_step + 1, ... through the ingestion service."""
    points = [
        MetricPointIn(key=key, step=first_step + i, value=value)
        for key, values in series.items()
        for i, value in enumerate(values)
    ]
    ingest_metrics(session=session, run_id=run.id, points=points)


def log_predictions(
    session: Session, run: Run, rows: list[tuple[str, Any, Any, float]], split: str = "dev"
) -> None:
    """rows: (example_id, label, predicted, confidence)."""
    predictions = [PredictionIn(example_id=e, label=y, predicted=p, confidence=c) for e, y, p, c in rows]
    ingest_predictions(session=session, run_id=run.id, split=split, predictions=predictions)
