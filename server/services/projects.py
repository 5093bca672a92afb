"""Projects: one learning problem, its dataset, its human-level error and its metrics."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.datasets import BUILTIN_DATASETS, EXTERNAL, get_dataset
from server.errors import Conflict, InvalidInput, NotFound
from server.schemas import ProjectCreate, ProjectRead, ProjectsPage, ProjectUpdate
from server.services import idempotency
from server.services.idempotency import ScopedKey
from server.tables import Project, RunCount


def _check_dataset(name: str, *, session: Session) -> None:
    if name != EXTERNAL and get_dataset(name, session=session) is None:
        known = ", ".join([*sorted(BUILTIN_DATASETS), EXTERNAL])
        raise InvalidInput(
            ["body", "dataset"],
            f"Unknown dataset {name!r}; choose one of: {known}, or an uploaded dataset's id",
        )


def _check_name_free(
    session: Session, name: str, owner_id: int | None, *, except_id: int | None = None
) -> None:
    # Names are unique per owner only: a clash in someone else's projects is none of the caller's business.
    same_owner = Project.owner_id.is_(None) if owner_id is None else Project.owner_id == owner_id
    clash = session.scalar(select(Project.id).where(Project.name == name, same_owner))
    if clash is not None and clash != except_id:
        raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A project named {name!r} already exists")


def get_project(*, session: Session, project_id: int) -> Project:
    """The project or NotFound."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("Project", project_id)
    return project


def _project_with_key(session: Session, key: ScopedKey, name: str) -> Project | None:
    """The project an earlier POST of this caller with this Idempotency-Key created, or None."""
    project = session.scalar(select(Project).where(idempotency.matches(Project, key)))
    if project is not None and project.name != name:
        raise Conflict(f"Idempotency-Key {key.key!r} was already used for the project {project.name!r}")
    return project


def create_project(
    *,
    session: Session,
    data: ProjectCreate,
    owner_id: int | None = None,
    idempotency_key: ScopedKey | None = None,
) -> Project:
    """Record a new project of `owner_id` (None: auth off); its name must be new among that owner's.

    A POST retried by the same caller with the same key returns the first's project, also when the retry
    runs alongside the first."""
    if idempotency_key is not None and (earlier := _project_with_key(session, idempotency_key, data.name)):
        return earlier
    _check_dataset(data.dataset, session=session)
    try:
        _check_name_free(session, data.name, owner_id)
        project = Project(
            owner_id=owner_id,
            idempotency_scope=idempotency_key.scope if idempotency_key else None,
            idempotency_key=idempotency_key.key if idempotency_key else None,
            name=data.name,
            dataset=data.dataset,
            human_level_error=data.human_level_error,
            optimizing_metric=data.optimizing_metric,
            satisficing=[c.model_dump(exclude_none=True) for c in data.satisficing],
            description=data.description,
            metric_aliases=data.metric_aliases or None,
        )
        session.add(project)
        session.commit()
    except (Conflict, IntegrityError):  # the name is taken: maybe by this same POST, sent alongside
        session.rollback()
        earlier = _project_with_key(session, idempotency_key, data.name) if idempotency_key else None
        if earlier is None:
            raise _name_taken(data.name) from None
        return earlier
    return project


def update_project(*, session: Session, project_id: int, data: ProjectUpdate) -> Project:
    """Change the fields the caller sent (an explicit null clears human-level error, or the aliases).

    Metric aliases apply to points logged from then on; points already stored keep their key."""
    project = get_project(session=session, project_id=project_id)
    fields = data.model_fields_set
    if "name" in fields and data.name is not None:
        _check_name_free(session, data.name, project.owner_id, except_id=project.id)
        project.name = data.name
    if "human_level_error" in fields:
        project.human_level_error = data.human_level_error
    if "optimizing_metric" in fields and data.optimizing_metric is not None:
        project.optimizing_metric = data.optimizing_metric
    if "satisficing" in fields and data.satisficing is not None:
        project.satisficing = [c.model_dump(exclude_none=True) for c in data.satisficing]
    if "description" in fields and data.description is not None:
        project.description = data.description
    if "metric_aliases" in fields:
        project.metric_aliases = data.metric_aliases or None  # null or {} clears them
    session.commit()
    return project


def list_projects(
    *, session: Session, name: str | None, limit: int, offset: int, visible: Select[int] | None = None
) -> ProjectsPage:
    """Projects, newest first, each with its run count; `visible` limits them to the caller's projects."""
    query = select(Project)
    if visible is not None:
        query = query.where(Project.id.in_(visible))
    if name is not None:
        query = query.where(Project.name == name)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    projects = list(session.scalars(query.order_by(Project.id.desc()).limit(limit).offset(offset)))
    counts = run_counts(session=session, project_ids=[p.id for p in projects])
    items = [to_read(p, counts.get(p.id, 0)) for p in projects]
    return ProjectsPage(total=total, limit=limit, offset=offset, items=items)


def run_counts(*, session: Session, project_ids: list[int]) -> dict[int, int]:
    if not project_ids:
        return {}
    # From the per-(project, status) counts that triggers keep: a few rows a project, not all its runs.
    rows = session.execute(
        select(RunCount.project_id, func.sum(RunCount.n))
        .where(RunCount.project_id.in_(project_ids))
        .group_by(RunCount.project_id)
    )
    return {project_id: int(count) for project_id, count in rows}


def to_read(project: Project, run_count: int = 0) -> ProjectRead:
    read = ProjectRead.model_validate(project)
    read.run_count = run_count
    return read
