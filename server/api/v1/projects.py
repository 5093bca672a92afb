"""Projects and the tags on their examples."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server import access
from server.access import ProjectOwner
from server.api.deps import (
    ExampleId,
    IdempotencyKey,
    IdPath,
    Limit,
    Offset,
    json_body,
    json_body_doc,
    list_cap,
)
from server.auth import ApiAuth
from server.body_guard import BATCH_BODY_BYTES, body_limit
from server.db import SessionDep
from server.schemas import (
    BulkTagResult,
    BulkTagUpdate,
    ExampleTagsDetail,
    ExampleTagsRead,
    ExampleTagsSet,
    NoNul,
    ProjectCreate,
    ProjectRead,
    ProjectsPage,
    ProjectUpdate,
    TagCreate,
    TagRead,
)
from server.services import accounts, idempotency, projects, tags

router = APIRouter(prefix="/projects", tags=["projects"])
# JSON values the bulk update may hold, counted before it is parsed (room for commas inside example ids).
BULK_TAGS_BODY = json_body(BulkTagUpdate, max_values=4 * list_cap(BulkTagUpdate, "example_ids"))


@router.post("", status_code=201)
def create_project(
    data: ProjectCreate, session: SessionDep, principal: ApiAuth, idempotency_key: IdempotencyKey = None
) -> ProjectRead:
    """Create a project: one dataset, one human-level error, one optimizing metric; its creator owns it."""
    access.check_dataset_ref(session, principal, data.dataset)
    key = idempotency.for_caller(principal.scope, idempotency_key)
    project = projects.create_project(
        session=session, data=data, owner_id=principal.user_id, idempotency_key=key
    )
    if principal.user_id is not None:
        accounts.add_owner(session=session, project=project, user_id=principal.user_id)
    return projects.to_read(project)


@router.get("")
def read_projects(
    session: SessionDep,
    principal: ApiAuth,
    name: Annotated[str | None, Query(max_length=200), NoNul] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProjectsPage:
    """Projects, newest first; `name` finds one by its exact name."""
    return projects.list_projects(
        session=session, name=name, limit=limit, offset=offset, visible=access.visible_project_ids(principal)
    )


@router.get("/{project_id}")
def read_project(project_id: IdPath, session: SessionDep, _: ApiAuth) -> ProjectRead:
    project = projects.get_project(session=session, project_id=project_id)
    return projects.to_read(
        project, projects.run_counts(session=session, project_ids=[project.id]).get(project.id, 0)
    )


@router.patch("/{project_id}")
def update_project(
    project_id: IdPath, data: ProjectUpdate, session: SessionDep, _: ProjectOwner
) -> ProjectRead:
    """Change a project, e.g. set its human-level error (owners)."""
    return projects.to_read(projects.update_project(session=session, project_id=project_id, data=data))


@router.get("/{project_id}/tags")
def read_tags(project_id: IdPath, session: SessionDep, _: ApiAuth) -> list[TagRead]:
    return [TagRead.model_validate(t) for t in tags.list_tags(session=session, project_id=project_id)]


@router.post("/{project_id}/tags", status_code=201)
def create_tag(project_id: IdPath, data: TagCreate, session: SessionDep, _: ApiAuth) -> TagRead:
    """Create a tag for error analysis."""
    return TagRead.model_validate(tags.create_tag(session=session, project_id=project_id, name=data.name))


@router.get("/{project_id}/examples/{example_id:path}/tags")
def read_example_tags(
    project_id: IdPath, example_id: ExampleId, session: SessionDep, _: ApiAuth
) -> ExampleTagsDetail:
    """One example's tags, and its tag history (e.g. "mislabeled", resolved by a label correction)."""
    return tags.read_example_tags(session=session, project_id=project_id, example_id=example_id)


@router.put("/{project_id}/examples/{example_id:path}/tags")
def set_example_tags(
    project_id: IdPath, example_id: ExampleId, data: ExampleTagsSet, session: SessionDep, _: ApiAuth
) -> ExampleTagsRead:
    """Replace one example's tags (unknown tags are created)."""
    names = tags.set_example_tags(
        session=session, project_id=project_id, example_id=example_id, names=data.tags
    )
    return ExampleTagsRead(example_id=example_id, tags=names)


@router.post("/{project_id}/examples/tags", openapi_extra=json_body_doc(BulkTagUpdate))
@body_limit(BATCH_BODY_BYTES)
def bulk_update_tags(
    project_id: IdPath,
    data: Annotated[BulkTagUpdate, Depends(BULK_TAGS_BODY)],
    session: SessionDep,
    _: ApiAuth,
) -> BulkTagResult:
    """Add and remove tags on many examples at once."""
    return tags.bulk_update_tags(
        session=session, project_id=project_id, example_ids=data.example_ids, add=data.add, remove=data.remove
    )
