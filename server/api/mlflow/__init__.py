"""MLflow's tracking REST API on Trainboard, so that an unchanged MLflow script logs here with
`MLFLOW_TRACKING_URI=http://host:port` (and `MLFLOW_TRACKING_TOKEN` for a bearer token).

An experiment is a project, a run is an external run; everything goes through Trainboard's own services.

- `tracking.py`   the routes under /api/2.0/mlflow and /ajax-api/2.0/mlflow (experiments, runs, metrics)
- `artifacts.py`  the routes under /api/2.0/mlflow-artifacts (a run's files)
- `experiments.py`, `runs.py`, `search.py`, `history.py`  the adapter over projects, runs and metrics
- `filter_grammar.py`  MLflow's search grammar, pure; `convert.py` ids, times, statuses and JSON shapes
- `errors.py`     MLflow's `{"error_code", "message"}` for every refusal
"""

from __future__ import annotations

from fastapi import FastAPI

from server.api.mlflow import artifacts, tracking

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def include_mlflow(app: FastAPI) -> None:
    """Mount the MLflow API (the same routes under both of MLflow's prefixes)."""
    for prefix in PREFIXES:
        app.include_router(tracking.router, prefix=prefix, include_in_schema=prefix == PREFIXES[0])
    app.include_router(artifacts.router, prefix="/api/2.0/mlflow-artifacts")
