"""Experiments in MLflow's terms: an experiment is a Trainboard project (its runs trained by scripts)."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server import access
from server.api.mlflow.convert import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    experiment_json,
    parse_ident,
)
from server.api.mlflow.errors import RESOURCE_ALREADY_EXISTS, MlflowError, invalid, not_found
from server.api.mlflow.filter_grammar import (
    EXPERIMENT_ATTRIBUTES,
    Clause,
    compare,
    parse_filter,
    parse_order_by,
)
from server.auth import Principal
from server.datasets import EXTERNAL
from server.errors import Conflict, NotFound
from server.schemas import ProjectCreate, ProjectUpdate
from server.services import accounts, projects
from server.tables import MlflowDeletedExperiment, MlflowExperimentTag, Project, ProjectMember

VIEW_TYPES = {"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}


def _visible(session: Session, principal: Principal) -> list[Project]:
    query = select(Project).order_by(Project.id)
    if not principal.sees_everything:
        query = query.join(ProjectMember, ProjectMember.project_id == Project.id).where(
            ProjectMember.user_id == principal.user_id
        )
    return list(session.scalars(query))


def _owned_by_name(session: Session, principal: Principal, name: str) -> Project | None:
    """The project of this name the caller sees: their own first (names are unique per owner)."""
    matches = [p for p in _visible(session, principal) if p.name == name]
    own = [p for p in matches if p.owner_id == principal.user_id]
    found = own or matches
    return found[0] if found else None


def create(session: Session, principal: Principal, name: str, tags: dict[str, str]) -> Project:
    """A new project for the experiment; RESOURCE_ALREADY_EXISTS when the caller has one of that name."""
    if not name.strip():
        raise invalid("Invalid value for 'name': an experiment needs a name")
    if principal.kind == "worker":
        raise MlflowError("PERMISSION_DENIED", "Workers cannot create experiments")
    try:
        project = projects.create_project(
            session=session,
            data=ProjectCreate(name=name, dataset=EXTERNAL),
            owner_id=principal.user_id,
        )
    except Conflict:
        deleted = (found := _owned_by_name(session, principal, name)) is not None and is_deleted(
            session, found.id
        )
        state = " (deleted: restore it, or pick another name)" if deleted else ""
        raise MlflowError(RESOURCE_ALREADY_EXISTS, f"Experiment {name!r} already exists{state}") from None
    if principal.user_id is not None:
        accounts.add_owner(session=session, project=project, user_id=principal.user_id)
    for key, value in tags.items():
        session.merge(MlflowExperimentTag(project_id=project.id, key=key, value=value))
    session.commit()
    return project


def resolve(session: Session, principal: Principal, experiment_id: str | int | None, need: int) -> Project:
    """The project an experiment id names, checked against the caller's role; "0" is their "Default"."""
    if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
        project = _owned_by_name(session, principal, DEFAULT_EXPERIMENT_NAME)
        return project or create(session, principal, DEFAULT_EXPERIMENT_NAME, {})
    ident = parse_ident(experiment_id)
    if ident is None:
        raise not_found(f"No experiment with id {experiment_id!r}")
    try:
        access.check_project(session, principal, ident, need, as_=("Experiment", ident))
    except NotFound:
        raise not_found(f"No experiment with id {experiment_id!r}") from None
    project = session.get(Project, ident)
    if project is None:  # deleted since the access check
        raise not_found(f"No experiment with id {experiment_id!r}")
    return project


def by_name(session: Session, principal: Principal, name: str) -> Project:
    project = _owned_by_name(session, principal, name)
    if project is None:
        if name == DEFAULT_EXPERIMENT_NAME:
            return resolve(session, principal, DEFAULT_EXPERIMENT_ID, access.VIEWER)
        raise not_found(f"Could not find experiment with name {name!r}")
    return project


def is_deleted(session: Session, project_id: int) -> bool:
    return session.get(MlflowDeletedExperiment, project_id) is not None


def tags_of(session: Session, project_ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {i: {} for i in project_ids}
    rows = session.execute(
        select(MlflowExperimentTag.project_id, MlflowExperimentTag.key, MlflowExperimentTag.value).where(
            MlflowExperimentTag.project_id.in_(project_ids)
        )
    )
    for project_id, key, value in rows:
        found[project_id][key] = value
    return found


def to_json(session: Session, project: Project) -> dict[str, Any]:
    tags = tags_of(session, [project.id])[project.id]
    return experiment_json(project, deleted=is_deleted(session, project.id), tags=tags)


def set_deleted(session: Session, project: Project, deleted: bool) -> None:
    if deleted:
        if project.name == DEFAULT_EXPERIMENT_NAME:
            raise MlflowError("INVALID_STATE", "The default experiment cannot be deleted")
        session.merge(MlflowDeletedExperiment(project_id=project.id))
    else:
        session.execute(
            delete(MlflowDeletedExperiment).where(MlflowDeletedExperiment.project_id == project.id)
        )
    session.commit()


def rename(session: Session, principal: Principal, project: Project, new_name: str) -> None:
    access.check_project(session, principal, project.id, access.OWNER, as_=("Experiment", project.id))
    if not new_name.strip():
        raise invalid("Invalid value for 'new_name': an experiment needs a name")
    try:
        projects.update_project(session=session, project_id=project.id, data=ProjectUpdate(name=new_name))
    except Conflict as exc:
        raise MlflowError(RESOURCE_ALREADY_EXISTS, exc.message) from None


def set_tag(session: Session, project: Project, key: str, value: str | None) -> None:
    if not key:
        raise invalid("Invalid value for 'key': a tag needs a key")
    if value is None:
        session.execute(
            delete(MlflowExperimentTag).where(
                MlflowExperimentTag.project_id == project.id, MlflowExperimentTag.key == key
            )
        )
    else:
        session.merge(MlflowExperimentTag(project_id=project.id, key=key, value=value))
    session.commit()


def _matches(clause: Clause, experiment: dict[str, Any], tags: dict[str, str]) -> bool:
    if clause.kind == "tag":
        actual: Any = tags.get(clause.key)
    elif clause.kind == "attribute":
        actual = experiment[clause.key]
    else:
        raise invalid(f"Experiments are searched by name, tags and times, not by {clause.kind}s")
    return compare(actual, clause.op, clause.value)


def search(
    session: Session,
    principal: Principal,
    *,
    filter_text: str | None,
    view_type: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The caller's experiments that match, in order, one page at a time (MLflow's offset tokens)."""
    if view_type not in VIEW_TYPES:
        raise invalid(f"Invalid value for 'view_type': {view_type!r}, expected one of {sorted(VIEW_TYPES)}")
    clauses = parse_filter(filter_text, EXPERIMENT_ATTRIBUTES)
    orders = parse_order_by(order_by, EXPERIMENT_ATTRIBUTES)
    offset = decode_token(page_token)
    visible = _visible(session, principal)
    deleted = {i for (i,) in session.execute(select(MlflowDeletedExperiment.project_id))}
    tags = tags_of(session, [p.id for p in visible])
    rows = []
    for project in visible:
        gone = project.id in deleted
        if (view_type == "ACTIVE_ONLY" and gone) or (view_type == "DELETED_ONLY" and not gone):
            continue
        experiment = experiment_json(project, deleted=gone, tags=tags[project.id])
        experiment["experiment_id"] = project.id
        if all(_matches(c, experiment, tags[project.id]) for c in clauses):
            rows.append(experiment)
    rows.sort(key=lambda e: (-(e["creation_time"] or 0), e["experiment_id"]))  # MLflow: newest first
    for order in reversed(orders):
        if order.kind != "attribute":
            raise invalid("Experiments are ordered by name, experiment_id, creation_time or last_update_time")
        present = [e for e in rows if e[order.key] is not None]
        present.sort(key=lambda e: e[order.key], reverse=not order.ascending)
        rows = present + [e for e in rows if e[order.key] is None]
    page = rows[offset : offset + max_results]
    for experiment in page:
        experiment["experiment_id"] = str(experiment["experiment_id"])
    more = offset + max_results < len(rows)
    return page, encode_token(offset + max_results) if more else None


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a page token carries; INVALID_PARAMETER_VALUE for one this server did not write."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise invalid(
            f"Invalid page token {token[:50]!r}: pass next_page_token from the previous page"
        ) from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {token[:50]!r}: pass next_page_token from the previous page")
    return offset
