"""What a person says about a run after the fact: its name, notes and tags (PATCH /runs/{id})."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.schemas import RunUpdate
from server.services.runs.lifecycle import get_run
from server.tables import Run


def update_run(*, session: Session, run_id: int, data: RunUpdate) -> Run:
    """Change the fields `data` sets; the others stay as they are."""
    run = get_run(session=session, run_id=run_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            continue  # null means "leave it": name, notes and tags are never null on a run
        setattr(run, field, value)
    session.commit()
    return run
