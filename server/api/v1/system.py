"""Health (the dataset catalog is in datasets.py)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from server.api.deps import QueueDep
from server.db import SessionDep
from server.schemas import Health

router = APIRouter(tags=["system"])


@router.get("/health")
def read_health(session: SessionDep, queue: QueueDep) -> Health:
    """Is the server up, and can it reach its database and its broker?"""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "down"
    return Health(status="ok", database=database, broker="ok" if queue.ping() else "down")
