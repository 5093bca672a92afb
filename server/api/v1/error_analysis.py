"""Error analysis beyond API.md's core: example images, label corrections, cohorts, run comparison, CSV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from server.api.deps import ExampleId, IdPath, Limit, Offset, TaskQuery
from server.api.downloads import attachment
from server.auth import ApiAuth
from server.csv_export import to_csv
from server.db import SessionDep
from server.error_analysis import ErrorShare
from server.schemas import MAX_ID, DatasetVersionRead, LabelCorrectionSet, LabelCorrectionsRead, NoNul, Split
from server.services import analysis, corrections, error_report, examples, predictions

router = APIRouter(tags=["error analysis"])
EXPORT_PAGE = 1000
CSV_COLUMNS = (
    "tag", "count", "fraction_of_errors", "max_error_reduction", "fraction_of_reviewed",
    "max_error_reduction_reviewed",
)  # fmt: skip
IMAGE_CACHE = "private, max-age=86400"

TagFilter = Annotated[str | None, Query(max_length=100), NoNul]
LabelFilter = Annotated[str | None, Query(max_length=200), NoNul]
Confidence = Annotated[float | None, Query(ge=0, le=1)]


@router.get("/projects/{project_id}/examples/{example_id:path}/image.png", response_class=Response)
def read_example_image(
    project_id: IdPath, example_id: ExampleId, request: Request, session: SessionDep, _: ApiAuth
) -> Response:
    """The example drawn as a PNG (image datasets); cached by the browser, revalidated with its ETag."""
    image = examples.example_image(session=session, project_id=project_id, example_id=example_id)
    headers = {"ETag": image.etag, "Cache-Control": IMAGE_CACHE}
    if request.headers.get("if-none-match") == image.etag:
        return Response(status_code=304, headers=headers)
    return Response(image.png, media_type="image/png", headers=headers)


@router.get("/projects/{project_id}/examples/{example_id:path}/features")
def read_example_features(
    project_id: IdPath, example_id: ExampleId, session: SessionDep, _: ApiAuth
) -> dict[str, float]:
    """A tabular example's feature values by name."""
    return examples.example_features(session=session, project_id=project_id, example_id=example_id)


@router.get("/projects/{project_id}/label-corrections")
def read_label_corrections(
    project_id: IdPath,
    session: SessionDep,
    _: ApiAuth,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> LabelCorrectionsRead:
    """Corrected labels; with `version`, those in force in that dataset version (what a worker applies)."""
    return corrections.list_corrections(session=session, project_id=project_id, version=version)


@router.put("/projects/{project_id}/label-corrections/{example_id:path}", status_code=204)
def set_label_correction(
    project_id: IdPath, example_id: ExampleId, data: LabelCorrectionSet, session: SessionDep, _: ApiAuth
) -> Response:
    """Correct an example's label (tags it "mislabeled"); it counts once the corrections are applied."""
    corrections.set_correction(
        session=session, project_id=project_id, example_id=example_id, corrected_label=data.corrected_label
    )
    return Response(status_code=204)


@router.delete("/projects/{project_id}/label-corrections/{example_id:path}", status_code=204)
def delete_label_correction(
    project_id: IdPath, example_id: ExampleId, session: SessionDep, _: ApiAuth
) -> Response:
    """Drop a correction that has not been applied yet."""
    corrections.delete_correction(session=session, project_id=project_id, example_id=example_id)
    return Response(status_code=204)


@router.post("/projects/{project_id}/label-corrections/apply")
def apply_label_corrections(project_id: IdPath, session: SessionDep, _: ApiAuth) -> DatasetVersionRead:
    """Apply the pending corrections to dev and test as a new dataset version; later runs train on it."""
    return DatasetVersionRead(
        dataset_version=corrections.apply_corrections(session=session, project_id=project_id)
    )


@router.get("/runs/{run_id}/error-cohorts")
def read_error_cohorts(
    run_id: IdPath, session: SessionDep, _: ApiAuth, split: Split = "dev", task: TaskQuery = None
) -> dict[str, Any]:
    """Error rate by class and confidence, slices of high error, and the PR curve of binary problems."""
    counts = analysis.analyse_run_errors(session=session, run_id=run_id, split=split, task=task)
    cohorts = error_report.error_cohorts(
        session=session, run_id=run_id, split=split, analysis=counts, task=task
    )
    return error_report.cohorts_to_dict(cohorts)


@router.get("/runs/{run_id}/compare/{other_id}")
def read_run_comparison(
    run_id: IdPath,
    other_id: IdPath,
    session: SessionDep,
    _: ApiAuth,
    split: Split = "dev",
    task: TaskQuery = None,
    group: error_report.CompareGroup = "fixed",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Examples fixed, newly broken and still wrong from this run to the other, and one group's page."""
    page = error_report.compare_runs(
        session=session,
        run_id=run_id,
        other_id=other_id,
        split=split,
        task=task,
        group=group,
        limit=limit,
        offset=offset,
    )
    return error_report.comparison_to_dict(page)


def _task_part(task: str | None) -> str:
    """A multi-task run's task in a download's name: run-3-dev-prime-errors.csv."""
    return f"-{task}" if task else ""


def _with_task(
    header: Sequence[str], rows: list[list[object]], task: str | None
) -> tuple[list[str], list[list[object]]]:
    """A multi-task run's export with its task as the last column, so that files of several tasks can be
    read together (a single-task run's has none)."""
    if not task:
        return list(header), rows
    return [*header, "task"], [[*row, task] for row in rows]


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers=attachment(filename),
    )


@router.get("/runs/{run_id}/errors.csv", response_class=Response)
def export_errors(
    run_id: IdPath,
    session: SessionDep,
    _: ApiAuth,
    split: Split = "dev",
    task: TaskQuery = None,
    tag: TagFilter = None,
    untagged: bool = False,
    label: LabelFilter = None,
    predicted: LabelFilter = None,
    min_confidence: Confidence = None,
    max_confidence: Confidence = None,
    sort: predictions.ErrorSort = "-confidence",
) -> Response:
    """The misclassified examples (with the same filters as /errors) as CSV."""
    filters: dict[str, Any] = dict(
        split=split, task=task, tag=tag, untagged=untagged, label=label, predicted=predicted,
        min_confidence=min_confidence, max_confidence=max_confidence, sort=sort,
    )  # fmt: skip
    rows: list[list[object]] = []
    offset = 0
    while True:
        page = predictions.list_errors(
            session=session, run_id=run_id, limit=EXPORT_PAGE, offset=offset, **filters
        )
        rows += [
            [e.example_id, e.label, e.predicted, e.confidence, e.loss, ";".join(e.tags)] for e in page.items
        ]
        offset += EXPORT_PAGE
        if offset >= page.total:
            break
    header = ["example_id", "label", "predicted", "confidence", "loss", "tags"]
    return _csv(to_csv(*_with_task(header, rows, task)), f"run-{run_id}-{split}{_task_part(task)}-errors.csv")


@router.get("/runs/{run_id}/error-analysis.csv", response_class=Response)
def export_error_analysis(
    run_id: IdPath, session: SessionDep, _: ApiAuth, split: Split = "dev", task: TaskQuery = None
) -> Response:
    """The error-analysis spreadsheet (one row per tag, then the other, untagged and all errors) as CSV."""
    counts = analysis.analyse_run_errors(session=session, run_id=run_id, split=split, task=task)
    rows: list[tuple[str, ErrorShare]] = [(t.tag, t) for t in counts.by_tag]
    if counts.other.count:
        rows.append(("(reviewed, no tag)", counts.other))
    if counts.errors:
        rows.append(("(untagged)", counts.untagged))
    rows.append(("(all errors)", counts.all_errors))
    table = [[name, *(getattr(share, c) for c in CSV_COLUMNS[1:])] for name, share in rows]
    return _csv(
        to_csv(*_with_task(CSV_COLUMNS, table, task)),
        f"run-{run_id}-{split}{_task_part(task)}-error-analysis.csv",
    )
