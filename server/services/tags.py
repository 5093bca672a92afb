"""Tags on a project's examples: they outlive runs, so a new run's errors keep the tags of the old.

Two names are built in: "mislabeled" (an example whose label is wrong: label corrections set it, and applying
them resolves it) and error_analysis.REVIEWED (looked at, in no category).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.schemas import BulkTagResult, ExampleTagsDetail, TagResolution
from server.services.projects import get_project
from server.services.upsert import insert_for
from server.tables import ExampleTag, LabelCorrection, Tag

MISLABELED = "mislabeled"


def list_tags(*, session: Session, project_id: int) -> list[Tag]:
    get_project(session=session, project_id=project_id)
    return list(session.scalars(select(Tag).where(Tag.project_id == project_id).order_by(Tag.name)))


def create_tag(*, session: Session, project_id: int, name: str) -> Tag:
    """A new tag; 409 if the project has one of that name."""
    get_project(session=session, project_id=project_id)
    name = name.strip()
    tag = Tag(project_id=project_id, name=name)
    session.add(tag)
    try:
        session.commit()
    except IntegrityError:  # the unique (project, name), also when a request alongside created it first
        session.rollback()
        raise Conflict(f"Tag {name!r} already exists in project {project_id}") from None
    return tag


def ensure_tags(session: Session, project_id: int, names: list[str]) -> dict[str, int]:
    """Tag ids by name, creating the missing tags on the fly."""
    names = sorted({n.strip() for n in names if n.strip()})
    if not names:
        return {}
    insert = insert_for(session, Tag).on_conflict_do_nothing(index_elements=["project_id", "name"])
    session.execute(insert, [{"project_id": project_id, "name": n} for n in names])
    rows = session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project_id, Tag.name.in_(names)))
    return {name: tag_id for name, tag_id in rows}


def read_example_tags(*, session: Session, project_id: int, example_id: str) -> ExampleTagsDetail:
    """One example's tags, and the tags it had that were resolved since."""
    get_project(session=session, project_id=project_id)
    names = session.scalars(
        select(Tag.name)
        .join(ExampleTag, ExampleTag.tag_id == Tag.id)
        .where(ExampleTag.project_id == project_id, ExampleTag.example_id == example_id)
        .order_by(Tag.name)
    )
    history = tag_history(session=session, project_id=project_id, example_ids=[example_id])
    return ExampleTagsDetail(example_id=example_id, tags=list(names), history=history.get(example_id, []))


def tag_history(
    *, session: Session, project_id: int, example_ids: list[str]
) -> dict[str, list[TagResolution]]:
    """Resolved tags by example: "mislabeled" on each example whose correction a dataset version applied.

    No table of its own: an applied label correction is the record (set_correction tagged the example
    "mislabeled"; apply_corrections took the tag off).
    """
    rows = session.scalars(
        select(LabelCorrection).where(
            LabelCorrection.project_id == project_id,
            LabelCorrection.example_id.in_(example_ids),
            LabelCorrection.applied_version.is_not(None),
        )
    )
    return {
        c.example_id: [
            TagResolution(
                tag=MISLABELED,
                resolved_by="label_correction",
                corrected_label=c.corrected_label,
                dataset_version=c.applied_version or 0,
                note=f"{MISLABELED}, resolved by correction to label {c.corrected_label} "
                f"in dataset version {c.applied_version}",
            )
        ]
        for c in rows
    }


def set_example_tags(*, session: Session, project_id: int, example_id: str, names: list[str]) -> list[str]:
    """Replace one example's tags."""
    get_project(session=session, project_id=project_id)
    ids = ensure_tags(session, project_id, names)
    session.execute(
        delete(ExampleTag).where(ExampleTag.project_id == project_id, ExampleTag.example_id == example_id)
    )
    if ids:
        session.execute(
            insert_for(session, ExampleTag),
            [
                {"project_id": project_id, "example_id": example_id, "tag_id": tag_id}
                for tag_id in ids.values()
            ],
        )
    session.commit()
    return sorted(ids)


def bulk_update_tags(
    *, session: Session, project_id: int, example_ids: list[str], add: list[str], remove: list[str]
) -> BulkTagResult:
    """Add and remove tags on many examples at once."""
    get_project(session=session, project_id=project_id)
    example_ids = sorted(set(example_ids))
    added = removed = 0
    remove_ids = [
        tag_id
        for tag_id in session.scalars(
            select(Tag.id).where(Tag.project_id == project_id, Tag.name.in_(remove))
        )
    ]
    if remove_ids:
        result = session.execute(
            delete(ExampleTag).where(
                ExampleTag.project_id == project_id,
                ExampleTag.example_id.in_(example_ids),
                ExampleTag.tag_id.in_(remove_ids),
            )
        )
        removed = result.rowcount or 0  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult
    add_ids = ensure_tags(session, project_id, add)
    if add_ids:
        rows = [
            {"project_id": project_id, "example_id": e, "tag_id": t}
            for e in example_ids
            for t in add_ids.values()
        ]
        statement = insert_for(session, ExampleTag).on_conflict_do_nothing(
            index_elements=["project_id", "example_id", "tag_id"]
        )
        session.execute(statement, rows)
        added = len(rows)
    session.commit()
    return BulkTagResult(examples=len(example_ids), added=added, removed=removed)
