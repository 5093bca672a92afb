"""What a person says about a run after the fact: its name, notes and tags (PATCH /runs/{id}), and whether
it is archived (DELETE /runs/{id}, POST /runs/{id}/restore)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import RunUpdate
from server.schemas.runs import MAX_TAGS
from server.services.runs.lifecycle import get_run
from server.tables import Run, utcnow


def update_run(*, session: Session, run_id: int, data: RunUpdate) -> Run:
    """Change the fields `data` sets; the others stay as they are."""
    run = get_run(session=session, run_id=run_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            continue  # null means "leave it": name, notes and tags are never null on a run
        setattr(run, field, value)
    session.commit()
    return run


def archive_run(*, session: Session, run_id: int) -> Run:
    """Archive the run (a soft delete): lists hide it unless asked for archived runs. Archiving an
    archived run keeps its first time."""
    run = get_run(session=session, run_id=run_id)
    if run.archived_at is None:
        run.archived_at = utcnow()
        session.commit()
    return run


def restore_run(*, session: Session, run_id: int) -> Run:
    """Bring an archived run back into the lists."""
    run = get_run(session=session, run_id=run_id)
    if run.archived_at is not None:
        run.archived_at = None
        session.commit()
    return run


def bulk_update(
    *,
    session: Session,
    project_id: int,
    run_ids: list[int],
    add_tags: Sequence[str] = (),
    archive: bool | None = None,
) -> int:
    """Add tags to, archive (True) or restore (False) the project's runs among ``run_ids`` in one commit;
    returns how many runs it changed (ids of other projects' runs are ignored)."""
    found = session.scalars(select(Run).where(Run.project_id == project_id, Run.id.in_(run_ids))).all()
    now = utcnow()
    for run in found:
        if add_tags:
            # A run already at MAX_TAGS keeps its tags (the form says how many it changed).
            merged = [*run.tags, *(t for t in add_tags if t not in run.tags)]
            run.tags = merged if len(merged) <= MAX_TAGS else run.tags
        if archive is True and run.archived_at is None:
            run.archived_at = now
        elif archive is False:
            run.archived_at = None
    session.commit()
    return len(found)
