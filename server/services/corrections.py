"""Label corrections ("mislabeled" examples), applied to dev and test together as a new dataset version."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.datasets import get_dataset, uploaded_id
from server.error_analysis import REVIEWED
from server.errors import Conflict, InvalidInput
from server.schemas import LabelCorrectionRead, LabelCorrectionsRead
from server.services.projects import get_project
from server.services.tags import MISLABELED, bulk_update_tags
from server.services.upsert import insert_for
from server.tables import Dataset, LabelCorrection, utcnow

#: Past this many classes the 422 names the range of labels instead of every class.
LISTED_CLASSES = 20


def dataset_classes(*, session: Session, dataset: str) -> list[str] | None:
    """Class names by label (0, 1, ...) of a built-in or uploaded dataset; None for external data."""
    info = get_dataset(dataset, session=session)
    if info is None:
        return None
    dataset_id = uploaded_id(dataset)
    uploaded = session.get(Dataset, dataset_id) if dataset_id is not None else None
    names = [str(name) for name in uploaded.classes] if uploaded else []
    return names if len(names) == info.n_classes else [str(i) for i in range(info.n_classes)]


def _allowed(classes: list[str]) -> str:
    if len(classes) > LISTED_CLASSES:
        return f"0 to {len(classes) - 1}"
    return ", ".join(str(i) if name == str(i) else f"{i} ({name})" for i, name in enumerate(classes))


def checked_label(classes: list[str] | None, corrected_label: int | str) -> str:
    """The label to store: a class index of the dataset (what workers train on); any for external data."""
    text = str(corrected_label).strip()
    if classes is None:
        return text
    if text.isascii() and text.isdigit() and int(text) < len(classes):
        return str(int(text))
    raise InvalidInput(
        ["body", "corrected_label"],
        f"corrected_label must be one of the dataset's classes ({_allowed(classes)}), but got {text!r}",
    )


def set_correction(*, session: Session, project_id: int, example_id: str, corrected_label: int | str) -> None:
    """Record an example's corrected label (pending until applied) and tag it "mislabeled"."""
    project = get_project(session=session, project_id=project_id)
    info = get_dataset(project.dataset, session=session)
    if info is not None and info.tasks:
        # A worker applies a correction as the example's one class label; here an example has K of them.
        raise InvalidInput(
            ["body", "corrected_label"],
            f"Label corrections are for single-label datasets, but {project.dataset!r} has one label "
            f"per task ({', '.join(info.tasks)})",
        )
    label = checked_label(dataset_classes(session=session, dataset=project.dataset), corrected_label)
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
                "corrected_label": label,
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


def apply_corrections(*, session: Session, project_id: int) -> int:
    """Make a new dataset version with every pending correction; returns the new version number.

    The corrected examples lose their "mislabeled" tag, so the error analysis no longer counts them there;
    they stay reviewed, and the applied correction keeps the record (see tags.tag_history).
    """
    project = get_project(session=session, project_id=project_id)
    pending = LabelCorrection.project_id == project_id, LabelCorrection.applied_version.is_(None)
    example_ids = list(session.scalars(select(LabelCorrection.example_id).where(*pending)))
    if not example_ids:
        raise Conflict("No pending label corrections to apply")
    project.dataset_version += 1
    session.execute(update(LabelCorrection).where(*pending).values(applied_version=project.dataset_version))
    bulk_update_tags(  # commits the whole change
        session=session, project_id=project_id, example_ids=example_ids, add=[REVIEWED], remove=[MISLABELED]
    )
    return project.dataset_version
