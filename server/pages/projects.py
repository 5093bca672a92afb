"""Project pages: the list with its "new project" form, and one project with its runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from server import access
from server.api.deps import IdPath, Offset
from server.auth import Principal
from server.datasets import EXTERNAL, DatasetInfo, display_names, get_dataset
from server.db import SessionDep
from server.diagnosis import compute_gaps, ladder_from_summary
from server.errors import Conflict, InvalidInput
from server.ids import MAX_ID
from server.pages.aliases import format_aliases, parse_aliases
from server.pages.common import (
    FormErrors,
    PageAuth,
    PagePrincipal,
    PageRoute,
    check_csrf,
    redirect,
    render,
    url_with,
)
from server.pages.constraints import format_constraints, parse_constraints
from server.pages.run_table import (
    MAX_PICKED,
    GroupRow,
    PickedColumn,
    cookie_name,
    group_rows,
    group_values,
    offered,
    parse_picked,
    picked_columns,
    row_values,
)
from server.schemas import (
    NoNul,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    RunRead,
    RunsPage,
    RunStatus,
    RunUpdate,
    Text,
    WorkerSlots,
)
from server.services import accounts, leaderboards, projects, runs, workers
from server.services import datasets as datasets_service
from server.services import groups as groups_service
from server.services.leaderboards import Leaderboard
from trainboard.settings import get_settings

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])

PROJECTS_PER_PAGE = 50
RUNS_PER_PAGE = 25
STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")
METRIC_CHOICES = ("dev_error", "test_error", "train_error", "train_dev_error", "dev_loss")
LABELS = {
    "name": "Name",
    "dataset": "Dataset",
    "human_level_error": "Human-level error",
    "optimizing_metric": "Optimizing metric",
    "satisficing": "Satisficing constraints",
    "metric_aliases": "Metric aliases",
}


class ProjectForm(BaseModel):
    """The new-project form as the browser sends it: text, converted and checked by ProjectCreate."""

    csrf_token: str = ""
    name: Text = ""
    dataset: Text = "digits"
    human_level_error: Text = ""  # percent, e.g. "0.5" for 0.5 %
    optimizing_metric: Text = "dev_error"


class ProjectEditForm(BaseModel):
    csrf_token: str = ""
    human_level_error: Text = ""
    optimizing_metric: Text = "dev_error"
    satisficing: Annotated[str | None, NoNul] = None  # "metric <= bound" per line; None (not sent) keeps them
    metric_aliases: Annotated[str | None, NoNul] = None  # "alias -> canonical" per line; None keeps them
    # The page's hidden marker: its textareas were sent. A blanked textarea arrives as "", which FastAPI
    # reads as not sent (None); with the marker it clears the list, as the page's help says.
    lists_sent: bool = False


@dataclass(frozen=True)
class DatasetChoice:
    value: str  # what the project stores: a built-in's name or an upload's id
    name: str
    description: str


def dataset_choices(session: Session, owner_id: int | None = None) -> list[DatasetChoice]:
    """Built-in and uploaded datasets (with `owner_id`, only that user's uploads), then 'external'."""
    catalog = datasets_service.catalog(session=session, owner_id=owner_id)
    known = [DatasetChoice(d.id, d.name, d.description) for d in catalog if d.id is not None]
    return [
        *known,
        DatasetChoice(EXTERNAL, EXTERNAL, "No built-in data: your own script trains and logs its runs."),
    ]


@dataclass
class ProjectsContext:
    projects: list[ProjectRead]
    total: int
    prev_url: str | None
    next_url: str | None
    datasets: list[DatasetChoice]
    metrics: tuple[str, ...]
    form: ProjectForm
    errors: FormErrors = field(default_factory=FormErrors)
    #: Each shown project's `dataset` as a user knows it (an upload's name, not its id).
    dataset_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """A runs-table header: its label, the link that sorts by it, and the arrow showing the current sort."""

    label: str
    href: str | None
    arrow: str
    numeric: bool


@dataclass
class ProjectContext:
    project: ProjectRead
    dataset: DatasetInfo | None
    runs: list[RunRead]
    total: int
    columns: list[Column]
    sort: str
    status: str | None
    statuses: tuple[str, ...]
    first_row: int
    prev_url: str | None
    next_url: str | None
    metrics: tuple[str, ...]
    form: ProjectEditForm
    gaps: dict[int, dict[str, float | None]]
    leaderboard: Leaderboard
    errors: FormErrors = field(default_factory=FormErrors)
    q: str = ""
    search: str = ""
    archived: bool = False
    filter_error: str | None = None
    picked: list[PickedColumn] = field(default_factory=list)
    picked_values: dict[int, list[str]] = field(default_factory=dict)
    offered_params: list[str] = field(default_factory=list)
    offered_metrics: list[str] = field(default_factory=list)
    groups: dict[str, GroupRow] = field(default_factory=dict)
    group_values: dict[str, list[str]] = field(default_factory=dict)
    export_url: str = ""
    #: The live workers' slots (projects with a built-in dataset: their runs need a worker).
    slots: WorkerSlots | None = None


def _percent_to_fraction(text: str, errors: FormErrors) -> float | None:
    """ "0.5" (%) -> 0.005; blank -> None; anything else is a form error naming the field."""
    text = text.strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        percent = float(text)
    except ValueError:
        errors.add(
            "human_level_error",
            f"Human-level error (human_level_error): enter a percentage, e.g. 0.5, but got {text!r}",
        )
        return None
    if not 0 <= percent <= 100:
        errors.add(
            "human_level_error",
            f"Human-level error (human_level_error): must be between 0 and 100 %, but got {percent:g}",
        )
        return None
    return percent / 100


def _pydantic_errors(exc: ValidationError) -> FormErrors:
    errors = FormErrors()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "name"
        message = error["msg"].removeprefix("Value error, ")
        errors.add(name, f"{LABELS.get(name, name)} ({name}): {message}")
    return errors


def _projects_context(
    session: Any, principal: Principal, offset: int, form: ProjectForm, errors: FormErrors
) -> ProjectsContext:
    page = projects.list_projects(
        session=session,
        name=None,
        limit=PROJECTS_PER_PAGE,
        offset=offset,
        visible=access.visible_project_ids(principal),
    )
    prev_offset = max(offset - PROJECTS_PER_PAGE, 0)
    return ProjectsContext(
        projects=page.items,
        total=page.total,
        prev_url=url_with("/", {"offset": prev_offset or None}) if offset > 0 else None,
        next_url=url_with("/", {"offset": offset + PROJECTS_PER_PAGE})
        if offset + PROJECTS_PER_PAGE < page.total
        else None,
        datasets=dataset_choices(session, None if principal.sees_everything else principal.user_id),
        metrics=METRIC_CHOICES,
        form=form,
        errors=errors,
        dataset_names=display_names(session=session, refs=[p.dataset for p in page.items]),
    )


@router.get("/")
def read_projects(
    request: Request, session: SessionDep, principal: PagePrincipal, offset: Offset = 0
) -> Response:
    """The projects the caller may see, newest first, and the form that creates one."""
    context = _projects_context(session, principal, offset, ProjectForm(), FormErrors())
    return render(request, "projects/list.html", context)


@router.post("/projects")
def create_project(
    request: Request, session: SessionDep, principal: PagePrincipal, form: Annotated[ProjectForm, Form()]
) -> Response:
    """Create a project from the form (the same service as POST /api/v1/projects); its creator owns it."""
    check_csrf(request, form.csrf_token)
    errors = FormErrors()
    human = _percent_to_fraction(form.human_level_error, errors)
    if not errors:
        try:
            data = ProjectCreate(
                name=form.name,
                dataset=form.dataset,
                human_level_error=human,
                optimizing_metric=form.optimizing_metric,
            )
            access.check_dataset_ref(session, principal, data.dataset)
            project = projects.create_project(session=session, data=data, owner_id=principal.user_id)
            if principal.user_id is not None:
                accounts.add_owner(session=session, project=project, user_id=principal.user_id)
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        except InvalidInput as exc:
            errors.add(str(exc.loc[-1]), f"{LABELS.get(str(exc.loc[-1]), '')} ({exc.loc[-1]}): {exc.message}")
        except Conflict as exc:
            errors.add("name", f"Name (name): {exc.message}")
        else:
            return redirect(f"/projects/{project.id}", f"Project {project.name!r} created.")
    context = _projects_context(session, principal, 0, form, errors)
    return render(request, "projects/list.html", context, status_code=422)


def _sort_columns(
    project_id: int, sort: str, status: str | None, keep: dict[str, Any] | None = None
) -> list[Column]:
    columns = []
    for label, key, numeric in (
        ("Name", "name", False),
        ("Status", "status", False),
        ("Progress", None, False),
        ("Train error", "train_error", True),
        ("Train-dev error", "train_dev_error", True),
        ("Dev error", "dev_error", True),
        ("Test error", "test_error", True),
        ("Avoidable bias", "avoidable_bias", True),
        ("Variance", "variance", True),
        ("Mismatch", "data_mismatch", True),
        ("Created", "created_at", False),
        ("Parent", None, False),
    ):
        if key is None:
            columns.append(Column(label, None, "", numeric))
            continue
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # A click on the current column flips it; a click elsewhere sorts ascending (errors: best first).
        target = (key if descending else f"-{key}") if current else key
        arrow = ("▼" if descending else "▲") if current else ""
        href = url_with(f"/projects/{project_id}", {**(keep or {}), "sort": target, "status": status})
        columns.append(Column(label, href, arrow, numeric))
    return columns


def _project_context(
    session: Any,
    project_id: int,
    *,
    sort: str,
    status: str | None,
    offset: int,
    form: ProjectEditForm | None,
    errors: FormErrors,
    q: str = "",
    search: str = "",
    archived: bool = False,
    picked: list[str] | None = None,
) -> ProjectContext:
    project = projects.get_project(session=session, project_id=project_id)
    count = projects.run_counts(session=session, project_ids=[project.id]).get(project.id, 0)
    filter_error = None
    try:
        page = runs.list_runs(
            session=session,
            project_id=project.id,
            status=status,
            sort=sort,
            limit=RUNS_PER_PAGE,
            offset=offset,
            q=q,
            search=search,
            archived=archived,
        )
    except InvalidInput as exc:
        if exc.loc != ["query", "q"]:
            raise
        filter_error = exc.message
        page = RunsPage(total=0, limit=RUNS_PER_PAGE, offset=0, items=[])
    base = f"/projects/{project.id}"
    filters = {"q": q or None, "search": search or None, "archived": "true" if archived else None}
    keep = {"sort": sort if sort != "-id" else None, "status": status, **filters}
    columns = picked_columns(picked or [])
    offered_params, offered_metrics = offered(session, project.id)
    names = sorted({run.group for run in page.items if run.group})
    reads = groups_service.groups_of(session=session, project_id=project.id, names=names)
    grouped = group_rows(page.items, reads)
    if form is None:
        human = project.human_level_error
        form = ProjectEditForm(
            human_level_error=f"{human * 100:g}" if human is not None else "",
            optimizing_metric=project.optimizing_metric,
            satisficing=format_constraints(project.satisficing or []),
            metric_aliases=format_aliases(project.metric_aliases),
        )
    return ProjectContext(
        project=projects.to_read(project, count),
        dataset=get_dataset(project.dataset, session=session),
        runs=page.items,
        total=page.total,
        columns=_sort_columns(project.id, sort, status, filters),
        sort=sort,
        status=status,
        statuses=STATUSES,
        first_row=offset + 1,
        prev_url=url_with(base, {**keep, "offset": max(offset - RUNS_PER_PAGE, 0) or None})
        if offset
        else None,
        next_url=url_with(base, {**keep, "offset": offset + RUNS_PER_PAGE})
        if offset + RUNS_PER_PAGE < page.total
        else None,
        metrics=METRIC_CHOICES,
        form=form,
        gaps={
            run.id: compute_gaps(ladder_from_summary(project.human_level_error, run.summary))
            for run in page.items
        },
        leaderboard=leaderboards.project_leaderboard(session=session, project_id=project.id),
        errors=errors,
        q=q,
        search=search,
        archived=archived,
        filter_error=filter_error,
        picked=columns,
        picked_values=row_values(page.items, columns),
        offered_params=offered_params,
        offered_metrics=offered_metrics,
        groups=grouped,
        group_values=group_values(grouped, columns),
        export_url=url_with("/api/v1/runs.csv", {"project_id": project.id, "status": status, **filters}),
        slots=workers.free_slots(session=session, timeout_s=get_settings().worker_timeout_s),
    )


@router.get("/projects/{project_id}")
def read_project(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    sort: Annotated[str, Query(max_length=251, pattern=r"^-?[A-Za-z0-9_.\-/:]+$")] = "-id",
    status: Annotated[RunStatus | Literal[""] | None, Query(description='"": any status')] = None,
    offset: Offset = 0,
    q: Annotated[str, Query(max_length=2000), NoNul] = "",
    search: Annotated[str, Query(max_length=200), NoNul] = "",
    archived: bool = False,
    col: Annotated[list[Annotated[str, NoNul]] | None, Query(max_length=MAX_PICKED * 2)] = None,
    cols_sent: bool = False,
) -> Response:
    """One project: its dataset, human-level error and a sortable, filterable, paged table of runs, with
    a filter expression, a name search, the columns the user picked (remembered in a cookie per project)
    and seed groups as rows that expand."""
    cookie = cookie_name(project_id)
    sent = cols_sent or col is not None
    picked = parse_picked(col or []) if sent else parse_picked([request.cookies.get(cookie, "")])
    context = _project_context(
        session,
        project_id,
        sort=sort,
        status=status or None,
        offset=offset,
        form=None,
        errors=FormErrors(),
        q=q,
        search=search,
        archived=archived,
        picked=picked,
    )
    response = render(
        request, "projects/detail.html", context, status_code=422 if context.filter_error else 200
    )
    if sent:
        path = f"/projects/{project_id}"
        response.set_cookie(
            cookie, ",".join(picked), max_age=365 * 86400, samesite="lax", path=path, httponly=True
        )
    return response


@router.post("/projects/{project_id}/runs/bulk")
def bulk_runs(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    csrf_token: Annotated[str, Form()] = "",
    action: Annotated[str, Form(max_length=20), NoNul] = "",
    tag: Annotated[str, Form(max_length=200), NoNul] = "",
    back: Annotated[str, Form(max_length=4000), NoNul] = "",
    run_ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Form(max_length=RUNS_PER_PAGE)] = [],  # noqa: B006
) -> Response:
    """Tag, archive or restore the runs ticked in the table (back: the table's URL, to return to)."""
    check_csrf(request, csrf_token)
    access.check_project(session, principal, project_id, access.EDITOR)
    home = f"/projects/{project_id}"
    back = back if back == home or back.startswith(home + "?") else home
    if not run_ids:
        return redirect(back, "Tick the runs first.", level="warning")
    if action == "tag":
        tag = tag.strip()
        try:
            RunUpdate.model_validate({"tags": [tag]})
        except ValidationError:
            return redirect(back, "Tag: 1 to 100 characters.", level="error")
        changed = runs.bulk_update(session=session, project_id=project_id, run_ids=run_ids, add_tags=[tag])
        return redirect(back, f"Tagged {changed} runs {tag!r}.")
    if action in ("archive", "restore"):
        changed = runs.bulk_update(
            session=session, project_id=project_id, run_ids=run_ids, archive=action == "archive"
        )
        return redirect(back, f"{'Archived' if action == 'archive' else 'Restored'} {changed} runs.")
    return redirect(back, "Choose tag, archive or restore.", level="error")


@router.post("/projects/{project_id}")
def update_project(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[ProjectEditForm, Form()],
) -> Response:
    """Change the human-level error, the optimizing metric, the satisficing constraints or the metric
    aliases (owners)."""
    check_csrf(request, form.csrf_token)
    access.check_project(session, principal, project_id, access.OWNER)
    errors = FormErrors()
    human = _percent_to_fraction(form.human_level_error, errors)
    changes: dict[str, Any] = {"human_level_error": human, "optimizing_metric": form.optimizing_metric}
    if form.satisficing is not None or form.lists_sent:
        try:
            changes["satisficing"] = parse_constraints(form.satisficing or "")
        except ValueError as exc:
            errors.add("satisficing", f"Satisficing constraints (satisficing): {exc}")
    if form.metric_aliases is not None or form.lists_sent:
        try:
            changes["metric_aliases"] = parse_aliases(form.metric_aliases or "")
        except ValueError as exc:
            errors.add("metric_aliases", f"Metric aliases (metric_aliases): {exc}")
    if not errors:
        try:
            data = ProjectUpdate(**changes)
            projects.update_project(session=session, project_id=project_id, data=data)
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        else:
            return redirect(f"/projects/{project_id}", "Project updated.")
    context = _project_context(
        session, project_id, sort="-id", status=None, offset=0, form=form, errors=errors
    )
    return render(request, "projects/detail.html", context, status_code=422)
