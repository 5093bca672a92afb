"""Per-project access: what a caller's role lets them do with a project and everything inside it.

viewer reads; editor also creates and changes runs, sweeps, tags, label corrections; owner also manages
members and renames the project. Admins and (auth off) everyone are owners everywhere; workers are editors
everywhere, but only on the few routes a worker needs (server/worker_scope.py). A project the caller cannot
see answers 404, as if it did not exist; a write their role does not allow on a project they can see
answers 403.

`authorize_request` is a dependency every API and page router carries: it checks each id the URL names (path
parameters and a few query parameters) before the handler runs, so a new route under those routers is
checked without doing anything. Routes that take a project id in the body check it themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server import worker_scope
from server.auth import SAFE_METHODS, ApiAuth, Principal
from server.datasets import uploaded_id
from server.db import SessionDep
from server.errors import Forbidden, InvalidInput, NotFound
from server.ids import MAX_ID, parse_id
from server.schemas import RunConfig
from server.services import accounts, comparisons
from server.services import gradcheck as gradchecks
from server.tables import Dataset, Project, ProjectMember, Run, Sweep

VIEWER, EDITOR, OWNER = (accounts.ROLE_RANK[r] for r in ("viewer", "editor", "owner"))
#: Path parameters that name something inside a project (or owned by a user), and what they name.
PATH_IDS = {
    "project_id": "project",
    "run_id": "run",
    "other_id": "run",
    "sweep_id": "sweep",
    "dataset_id": "dataset",
    "check_id": "gradcheck",
}
#: Query parameters that name something to read (a parent run, a run to compare with).
QUERY_IDS = {
    "project_id": "project",
    "run": "run",
    "parent": "run",
    "other": "run",
    "runs": "run",
    "run_ids": "run",
    "transfer": "run",
}


def rank(session: Session, principal: Principal, project_id: int) -> int:
    """The caller's role in the project as a number: 0 none, 1 viewer, 2 editor, 3 owner."""
    if principal.is_admin:
        return OWNER
    if principal.kind == "worker":
        return EDITOR
    role = accounts.role_of(session=session, project_id=project_id, user_id=principal.user_id or 0)
    return accounts.ROLE_RANK.get(role or "", 0)


def check_project(
    session: Session,
    principal: Principal,
    project_id: int,
    need: int,
    *,
    as_: tuple[str, object] | None = None,
) -> None:
    """NotFound unless the project exists and the caller sees it; Forbidden when their role is too low.

    `as_` names what the URL asked for (("Run", 7)), so that a hidden run reads exactly like a missing one."""
    resource, ident = as_ or ("Project", project_id)
    if session.get(Project, project_id) is None:
        raise NotFound(resource, ident)
    have = rank(session, principal, project_id)
    if have == 0:
        raise NotFound(resource, ident)
    if have < need:
        role = {VIEWER: "a viewer", EDITOR: "an editor"}[have]
        wanted = "an owner" if need == OWNER else "an editor or owner"
        raise Forbidden(f"You are {role} of project {project_id}: this needs {wanted}")


def check_run(session: Session, principal: Principal, run_id: int, need: int) -> None:
    project_id = session.scalar(select(Run.project_id).where(Run.id == run_id))
    if project_id is None:
        raise NotFound("Run", run_id)
    check_project(session, principal, project_id, need, as_=("Run", run_id))


def check_body_project(
    session: Session, principal: Principal, project_id: int, need: int, field: str = "project_id"
) -> None:
    """A project named in a request body: a missing or hidden one is a 422 naming the field."""
    try:
        check_project(session, principal, project_id, need)
    except NotFound:
        raise InvalidInput(["body", field], f"Project {project_id} not found") from None


def check_body_run(session: Session, principal: Principal, run_id: int | None, field: str) -> None:
    """A run named in a request body (a parent to copy from, a run to transfer from; `field` dotted, as
    "config.transfer.from_run_id"): it must be one the caller may read, else a 422 as if it did not exist."""
    if run_id is None or principal.sees_everything:
        return
    try:
        check_run(session, principal, run_id, VIEWER)
    except NotFound:
        raise InvalidInput(["body", *field.split(".")], f"Run {run_id} not found") from None


def check_config_runs(
    session: Session, principal: Principal, config: RunConfig, field: str = "config"
) -> None:
    """The runs a run config names (the one it transfers from) must be ones the caller may read."""
    if config.transfer is not None:
        check_body_run(session, principal, config.transfer.from_run_id, f"{field}.transfer.from_run_id")


def check_change_runs(session: Session, principal: Principal, changes: Mapping[str, object]) -> None:
    """A Try-next change that names a run to fine-tune from ("transfer.from_run_id") must name one the
    caller may read: a 422 at ["body", "changes", path] as if it did not exist."""
    path = "transfer.from_run_id"
    run_id = changes.get(path)
    if not isinstance(run_id, int) or isinstance(run_id, bool) or principal.sees_everything:
        return
    try:
        check_run(session, principal, run_id, VIEWER)
    except NotFound:
        raise InvalidInput(["body", "changes", path], f"{path}: Run {run_id} not found") from None


def check_sweep(session: Session, principal: Principal, sweep_id: int, need: int) -> None:
    project_id = session.scalar(select(Sweep.project_id).where(Sweep.id == sweep_id))
    if project_id is None:
        raise NotFound("Sweep", sweep_id)
    check_project(session, principal, project_id, need, as_=("Sweep", sweep_id))


def dataset_visible(principal: Principal, owner_id: int | None) -> bool:
    """An uploaded dataset is its uploader's; admins and workers see all (one from before accounts too)."""
    return principal.sees_everything or (owner_id is not None and owner_id == principal.user_id)


def check_dataset(session: Session, principal: Principal, dataset_id: int) -> None:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or not dataset_visible(principal, dataset.owner_id):
        raise NotFound("Dataset", dataset_id)
    if principal.kind == "worker":
        worker_scope.check_worker_dataset(session, dataset_id)


def check_dataset_ref(session: Session, principal: Principal, ref: str, field: str = "dataset") -> None:
    """A project's `dataset` may be an uploaded dataset's id: only one the caller may see. Other text names
    no upload (the service refuses it unless it is a built-in), so nothing reaches an upload unchecked."""
    dataset_id = uploaded_id(ref)
    dataset = None if dataset_id is None else session.get(Dataset, dataset_id)
    if dataset is not None and not dataset_visible(principal, dataset.owner_id):
        raise InvalidInput(["body", field], f"Dataset {ref} not found")


def check_gradcheck(session: Session, principal: Principal, check_id: str) -> None:
    """Gradient checks belong to whoever started them."""
    if principal.sees_everything:
        return
    check = gradchecks.get_gradcheck(session=session, check_id=check_id)
    if check.owner_id != principal.user_id:
        raise NotFound("Gradient check", check_id)


@dataclass(frozen=True)
class NamedId:
    """One id the URL names: what kind of thing, which one, and the role the request needs on it."""

    kind: str
    ident: int | str  # a gradient check's id is a uuid
    need: int


def _one_id(loc: list[str], text: str) -> int:
    ident = parse_id(text)
    if ident is None:
        raise InvalidInput(loc, f"{loc[-1]}: expected an id such as 42 (1 to {MAX_ID}), but got {text!r}")
    return ident


def url_ids(request: Request) -> list[NamedId]:
    """Every id in the URL, parsed as the handler will read it; InvalidInput (422) for any other spelling,
    so that '+7' or '7.0' can no more reach a handler past the check than '7' can."""
    need = VIEWER if request.method in SAFE_METHODS else EDITOR
    named: list[NamedId] = []
    for name, value in request.path_params.items():
        kind = PATH_IDS.get(name)
        if kind == "gradcheck":
            named.append(NamedId(kind, str(value), need))
        elif kind is not None:
            named.append(NamedId(kind, _one_id(["path", name], str(value)), need))
    for name, kind in QUERY_IDS.items():
        values = request.query_params.getlist(name)
        if not values:
            continue
        if name in ("runs", "run_ids"):  # lists: their own parser, so that both read the same ids
            ids = comparisons.run_ids_in(values, field=name)
        else:
            ids = [_one_id(["query", name], value) for value in values]
        named.extend(NamedId(kind, ident, VIEWER) for ident in ids)
    return named


def _check(session: Session, principal: Principal, named: NamedId) -> None:
    kind, ident = named.kind, named.ident
    if kind == "gradcheck":
        check_gradcheck(session, principal, str(ident))
    elif kind == "project":
        check_project(session, principal, int(ident), named.need)
    elif kind == "run":
        check_run(session, principal, int(ident), named.need)
    elif kind == "sweep":
        check_sweep(session, principal, int(ident), named.need)
    elif kind == "dataset":
        check_dataset(session, principal, int(ident))


def authorize(request: Request, principal: Principal, session: Session) -> Principal:
    """Every id in the URL must be spelled as the server writes it, be visible to the caller, and be
    writable for a write."""
    named = url_ids(request)
    if principal.kind == "anonymous":
        return principal
    if principal.kind == "worker":
        worker_scope.check_worker_route(request)
    for each in named:
        _check(session, principal, each)
    return principal


async def authorize_request(request: Request, principal: ApiAuth, session: SessionDep) -> Principal:
    """API router dependency: see `authorize`. Async so that an anonymous caller (auth off), who may do
    everything, skips a thread-pool hop; the lookups for everyone else run in the thread pool."""
    if principal.kind == "anonymous":
        url_ids(request)  # a malformed id is a 422 with auth off too
        return principal
    return await run_in_threadpool(authorize, request, principal, session)


ApiAccess = Depends(authorize_request)


def require_owner(request: Request, principal: ApiAuth, session: SessionDep) -> Principal:
    """Route dependency for renaming a project and managing its members: owners (and admins) only."""
    if principal.kind == "worker":
        raise Forbidden("Workers cannot manage projects or members")
    for named in url_ids(request):
        if named.kind == "project" and principal.kind != "anonymous":
            check_project(session, principal, int(named.ident), OWNER)
    return principal


ProjectOwner = Annotated[Principal, Depends(require_owner)]


def require_worker(principal: ApiAuth) -> Principal:
    """Route dependency for a worker's own announcements: worker tokens (and admins; anyone with auth off).

    A user's token could otherwise add slots that no worker has, and the pages would promise them."""
    if principal.kind == "user" and not principal.is_admin:
        raise Forbidden("Only workers announce themselves; use a worker token")
    return principal


WorkerCaller = Annotated[Principal, Depends(require_worker)]


def visible_project_ids(principal: Principal) -> Select[int] | None:
    """A subquery of the projects the caller may see, or None when they see them all."""
    if principal.sees_everything:
        return None
    return select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id)
