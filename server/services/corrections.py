"""Label corrections ("mislabeled" examples), applied to dev and test together as a new dataset version."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.schemas import LabelCorrectionRead, LabelCorrectionsRead
from server.services.projects import get_project
from server.services.tags import bulk_update_tags
from server.services.upsert import insert_for
from server.tables import LabelCorrection, utcnow

MISLABELED = "mislabeled"


def set_correction(*, session: Session, project_id: int, example_id: str, corrected_label: int | str) -> None:
    """Record an example's corrected label (pending until applied) and tag it "mislabeled"."""
    get_project(session=session, project_id=project_id)
    statement = insert_for(session, LabelCorrection)
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "example_id"],
        set_={"corrected_label": statement.excluded.corrected_label, "applied_version": None},
    )
    session.execute(
        statement,
        [
            {
                "project_id": project_id,
                "example_id": example_id,
                "corrected_label": str(corrected_label).strip(),
                "applied_version": None,
                "created_at": utcnow(),
            }
        ],
    )
    bulk_update_tags(
        session=session, project_id=project_id, example_ids=[example_id], add=[MISLABELED], remove=[]
    )


def delete_correction(*, session: Session, project_id: int, example_id: str) -> None:
    """Forget a correction that has not been applied yet (applied ones belong to a dataset version)."""
    get_project(session=session, project_id=project_id)
    session.execute(
        delete(LabelCorrection).where(
            LabelCorrection.project_id == project_id,
            LabelCorrection.example_id == example_id,
            LabelCorrection.applied_version.is_(None),
        )
    )
    session.commit()


def list_corrections(
    *, session: Session, project_id: int, version: int | None = None
) -> LabelCorrectionsRead:
    """Corrections in force at dataset `version`; without a version, all of them, pending ones too."""
    project = get_project(session=session, project_id=project_id)
    query = select(LabelCorrection).where(LabelCorrection.project_id == project_id)
    if version is not None:
        query = query.where(LabelCorrection.applied_version <= version)
    rows = session.scalars(query.order_by(LabelCorrection.example_id))
    return LabelCorrectionsRead(
        dataset_version=project.dataset_version,
        corrections=[
            LabelCorrectionRead(
                example_id=c.example_id, corrected_label=c.corrected_label, applied_version=c.applied_version
            )
            for c in rows
        ],
    )


def pending_count(*, session: Session, project_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                LabelCorrection.project_id == project_id, LabelCorrection.applied_version.is_(None)
            )
        )
        or 0
    )


def apply_corrections(*, session: Session, project_id: int) -> int:
    """Make a new dataset version with every pending correction; returns the new version number."""
    project = get_project(session=session, project_id=project_id)
    if not pending_count(session=session, project_id=project_id):
        raise Conflict("No pending label corrections to apply")
    project.dataset_version += 1
    session.execute(
        update(LabelCorrection)
        .where(LabelCorrection.project_id == project_id, LabelCorrection.applied_version.is_(None))
        .values(applied_version=project.dataset_version)
    )
    session.commit()
    return project.dataset_version
