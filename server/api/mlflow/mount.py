"""Mount MLflow's tracking and artifact routes on the app."""

from __future__ import annotations

from fastapi import FastAPI

from server.api.mlflow import artifacts, tracking

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def include_mlflow(app: FastAPI) -> None:
    """Mount the MLflow API (the same routes under both of MLflow's prefixes)."""
    for prefix in PREFIXES:
        app.include_router(tracking.router, prefix=prefix, include_in_schema=prefix == PREFIXES[0])
    app.include_router(artifacts.router, prefix="/api/2.0/mlflow-artifacts")
