"""A run's error-analysis page: the table of mistakes, tagging, the counts, cohorts, run comparison."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from server.api.deps import IdPath, Offset, TaskQuery
from server.datasets import class_names
from server.db import SessionDep
from server.error_analysis import REVIEWED, ErrorAnalysis
from server.errors import Conflict
from server.ids import MAX_ID
from server.pages.common import PageAuth, PageRoute, check_csrf, redirect, render, url_with
from server.schemas import ErrorsPage, NoNul, ProjectRead, RunRead, Split, TagResolution
from server.services import analysis, corrections, error_report, examples, predictions, projects, runs, tags
from server.services.error_report import CompareGroup, ErrorCohorts, RunComparisonPage
from server.services.prediction_tasks import prediction_tasks, resolve_task

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])

PAGE_SIZE = 50
SPLITS = ("dev", "test", "train_dev")
SORTS = {
    "-confidence": "most confident first",
    "confidence": "least confident first",
    "-loss": "highest loss first",
}
GROUP_NAMES = {"fixed": "Fixed", "newly_broken": "Newly broken", "still_wrong": "Still wrong"}


@dataclass(frozen=True)
class ErrorFilters:
    split: str
    task: str | None  # a multi-task run's task; None for a single-task run
    label: str | None
    predicted: str | None
    tag: str | None
    untagged: bool
    min_confidence: float | None
    max_confidence: float | None
    sort: predictions.ErrorSort
    offset: int

    def query(self, **changes: Any) -> dict[str, Any]:
        """The filters as query parameters (unset ones left out), with `changes` applied."""
        values = {**asdict(self), **changes}
        values["untagged"] = "1" if values["untagged"] else None
        values["offset"] = values["offset"] or None
        values["sort"] = None if values["sort"] == "-confidence" else values["sort"]
        return values


@dataclass
class ErrorsContext:
    run: RunRead
    project: ProjectRead
    filters: ErrorFilters
    kind: str  # "image", "tabular" or "" (no stored examples)
    errors: ErrorsPage
    features: dict[str, list[float]]
    feature_names: list[str]
    counts: ErrorAnalysis
    filter_url: str
    cohorts: ErrorCohorts
    tag_names: list[str]
    palette: list[str]
    corrections: dict[str, str]
    history: dict[str, list[TagResolution]]
    pending_corrections: int
    dataset_version: int
    prev_url: str | None
    next_url: str | None
    export_url: str
    other_runs: list[RunRead]
    #: A multi-task run's tasks, for the task picker (empty for a single-task run).
    tasks: tuple[str, ...]
    splits: tuple[str, ...]
    sorts: dict[str, str]
    page_data: dict[str, Any]
    #: Class index -> the dataset's name for it ("1" -> "pos"); shown wherever a label is.
    class_names: dict[str, str] = field(default_factory=dict)


def _tag_names(session: Session, project_id: int) -> list[str]:
    # "mislabeled" is built in: always offered first, created on first use.
    names = [t.name for t in tags.list_tags(session=session, project_id=project_id)]
    return [tags.MISLABELED, *(n for n in names if n != tags.MISLABELED)]


def _filter_url(run_id: int, split: str, task: str | None) -> str:
    """The errors page of one split (and task), to which links add their filters."""
    return url_with(f"/runs/{run_id}/errors", {"split": split, "task": task})


def page_task(*, session: Session, run_id: int, task: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The task the page shows and the run's tasks: a multi-task run opened without one shows its first
    task (the API asks for one instead); a task the run does not have is a 422 naming the ones it has."""
    run = runs.get_run(session=session, run_id=run_id)
    tasks = prediction_tasks(session=session, run=run)
    if task is None and tasks:
        task = tasks[0]
    return resolve_task(session=session, run=run, task=task), tasks


def _chart_data(counts: ErrorAnalysis, cohorts: ErrorCohorts) -> dict[str, Any]:
    return {
        "counts": counts.to_dict(),
        "by_confidence": [asdict(b) for b in cohorts.by_confidence],
        "pr_curve": cohorts.pr_curve.to_dict() if cohorts.pr_curve else None,
    }


def _errors_context(
    session: Session, run_id: int, filters: ErrorFilters, tasks: tuple[str, ...]
) -> ErrorsContext:
    run = runs.get_run(session=session, run_id=run_id)
    project = projects.to_read(run.project)
    page = predictions.list_errors(
        session=session,
        run_id=run_id,
        split=filters.split,
        task=filters.task,
        label=filters.label,
        predicted=filters.predicted,
        tag=filters.tag,
        untagged=filters.untagged,
        min_confidence=filters.min_confidence,
        max_confidence=filters.max_confidence,
        sort=filters.sort,
        limit=PAGE_SIZE,
        offset=filters.offset,
    )
    counts = analysis.analyse_run_errors(
        session=session, run_id=run_id, split=filters.split, task=filters.task
    )
    cohorts = error_report.error_cohorts(
        session=session, run_id=run_id, split=filters.split, analysis=counts, task=filters.task
    )
    arrays = examples.dataset_arrays(run.project.dataset)
    kind = arrays.kind if arrays else ""
    shown = corrections.list_corrections(session=session, project_id=project.id).corrections
    base = f"/runs/{run_id}/errors"
    next_offset = filters.offset + PAGE_SIZE
    tag_names = _tag_names(session, project.id)
    palette = [name for name in tag_names if name != REVIEWED]  # the "Mark reviewed" button has its own key
    filter_url = _filter_url(run_id, filters.split, filters.task)
    names = class_names(session=session, ref=run.project.dataset)
    return ErrorsContext(
        run=runs.to_read(run),
        project=project,
        filters=filters,
        kind=kind,
        errors=page,
        features=examples.features_of(run.project.dataset, [e.example_id for e in page.items])
        if kind == "tabular"
        else {},
        feature_names=list(arrays.feature_names) if arrays and kind == "tabular" else [],
        counts=counts,
        filter_url=filter_url,
        cohorts=cohorts,
        tag_names=tag_names,
        palette=palette,
        corrections={c.example_id: c.corrected_label for c in shown},
        history=tags.tag_history(
            session=session, project_id=project.id, example_ids=[e.example_id for e in page.items]
        ),
        pending_corrections=sum(1 for c in shown if c.applied_version is None),
        dataset_version=run.project.dataset_version,
        prev_url=url_with(base, filters.query(offset=max(filters.offset - PAGE_SIZE, 0)))
        if filters.offset
        else None,
        next_url=url_with(base, filters.query(offset=next_offset)) if next_offset < page.total else None,
        export_url=url_with(f"/api/v1/runs/{run_id}/errors.csv", {**filters.query(), "offset": None}),
        other_runs=[
            r
            for r in runs.list_runs(
                session=session, project_id=project.id, status=None, sort="-id", limit=50, offset=0
            ).items
            if r.id != run_id
        ],
        tasks=tasks,
        splits=SPLITS,
        sorts=SORTS,
        page_data={
            "run_id": run_id,
            "project_id": project.id,
            "split": filters.split,
            "task": filters.task,
            "tags": palette,
            "mislabeled": tags.MISLABELED,
            "reviewed": REVIEWED,
            "analysis_url": url_with(
                f"/api/v1/runs/{run_id}/error-analysis", {"split": filters.split, "task": filters.task}
            ),
            "counts_url": url_with(
                f"/runs/{run_id}/errors/counts", {"split": filters.split, "task": filters.task}
            ),
            "filter_url": filter_url,
            "class_names": names,
            **_chart_data(counts, cohorts),
        },
        class_names=names,
    )


def _confidence(text: str | None) -> float | None:
    """A confidence bound typed in the filter form: blank or unreadable means none; clipped to [0, 1]."""
    try:
        value = float(text) if text and text.strip() else None
    except ValueError:
        return None
    return None if value is None or value != value else min(max(value, 0.0), 1.0)


@router.get("/runs/{run_id}/errors")
def read_errors(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    split: Split = "dev",
    task: TaskQuery = None,
    label: Annotated[str | None, Query(max_length=200), NoNul] = None,
    predicted: Annotated[str | None, Query(max_length=200), NoNul] = None,
    tag: Annotated[str | None, Query(max_length=100), NoNul] = None,
    untagged: bool = False,
    min_confidence: Annotated[str | None, Query(max_length=20), NoNul] = None,
    max_confidence: Annotated[str | None, Query(max_length=20), NoNul] = None,
    sort: predictions.ErrorSort = "-confidence",
    offset: Offset = 0,
) -> Response:
    """The run's misclassified examples with filters, tagging, and the counts that rank what to fix (of one
    task at a time, for a multi-task run)."""
    shown_task, tasks = page_task(session=session, run_id=run_id, task=task or None)
    filters = ErrorFilters(
        split=split,
        task=shown_task,
        label=label or None,
        predicted=predicted or None,
        tag=tag or None,
        untagged=untagged,
        min_confidence=_confidence(min_confidence),
        max_confidence=_confidence(max_confidence),
        sort=sort,
        offset=offset,
    )
    return render(request, "errors/list.html", _errors_context(session, run_id, filters, tasks))


@dataclass
class CountsContext:
    counts: ErrorAnalysis
    filter_url: str


@router.get("/runs/{run_id}/errors/counts")
def read_error_counts(
    request: Request, run_id: IdPath, session: SessionDep, split: Split = "dev", task: TaskQuery = None
) -> Response:
    """The totals and the counts table alone: errors.js swaps them in after each tagging."""
    shown_task, _ = page_task(session=session, run_id=run_id, task=task or None)
    counts = analysis.analyse_run_errors(session=session, run_id=run_id, split=split, task=shown_task)
    context = CountsContext(counts=counts, filter_url=_filter_url(run_id, split, shown_task))
    return render(request, "errors/counts.html", context)


@router.post("/projects/{project_id}/label-corrections/apply")
def apply_corrections(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    csrf_token: Annotated[str, Form()] = "",
    back: Annotated[str, Form(), NoNul] = "/",
) -> Response:
    """Apply the pending corrections as a new dataset version (the same service as the API)."""
    check_csrf(request, csrf_token)
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    try:
        version = corrections.apply_corrections(session=session, project_id=project_id)
    except Conflict as exc:
        return redirect(target, exc.message, level="warning")
    return redirect(
        target, f"Dataset version {version} made: runs queued from now on use the corrected labels."
    )


@dataclass
class CompareContext:
    run: RunRead
    other: RunRead
    project: ProjectRead
    split: str
    task: str | None
    comparison: RunComparisonPage
    groups: dict[str, str]
    prev_url: str | None
    next_url: str | None
    splits: tuple[str, ...]
    offset: int
    class_names: dict[str, str] = field(default_factory=dict)


@router.get("/runs/{run_id}/errors/compare")
def compare_runs(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    other: Annotated[int, Query(ge=1, le=MAX_ID)],
    split: Split = "dev",
    task: TaskQuery = None,
    group: CompareGroup = "fixed",
    offset: Offset = 0,
) -> Response:
    """Examples fixed, newly broken and still wrong from this run to another (of one task, for a
    multi-task run)."""
    run = runs.get_run(session=session, run_id=run_id)
    shown_task, _ = page_task(session=session, run_id=run_id, task=task or None)
    comparison = error_report.compare_runs(
        session=session,
        run_id=run_id,
        other_id=other,
        split=split,
        task=shown_task,
        group=group,
        limit=PAGE_SIZE,
        offset=offset,
    )
    base = f"/runs/{run_id}/errors/compare"
    params = {"other": other, "split": split, "task": shown_task, "group": group}
    context = CompareContext(
        run=runs.to_read(run),
        other=runs.to_read(runs.get_run(session=session, run_id=other)),
        project=projects.to_read(run.project),
        split=split,
        task=shown_task,
        comparison=comparison,
        groups=GROUP_NAMES,
        prev_url=url_with(base, {**params, "offset": max(offset - PAGE_SIZE, 0) or None}) if offset else None,
        next_url=url_with(base, {**params, "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < comparison.total
        else None,
        splits=SPLITS,
        offset=offset,
        class_names=class_names(session=session, ref=run.project.dataset),
    )
    return render(request, "errors/compare.html", context)
