"""Runs: submit, list, read, and the lifecycle calls the worker and the client library make."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from server import access, observability
from server.api.deps import (
    IdempotencyKey,
    IdPath,
    Limit,
    Offset,
    QueueDep,
    TaskQuery,
    json_body,
    json_body_doc,
    list_cap,
)
from server.api.metrics_body import Batch, metric_rows
from server.auth import ApiAuth
from server.body_guard import BATCH_BODY_BYTES, body_limit
from server.db import ReadSessionDep, SessionDep
from server.schemas import (
    MAX_ID,
    Accepted,
    ErrorsPage,
    MetricsAccepted,
    MetricSeries,
    MetricSeriesList,
    MetricsIn,
    NoNul,
    PredictionsIn,
    RunAttemptRead,
    RunCreate,
    RunFinish,
    RunProgress,
    RunRead,
    RunRelease,
    RunResumed,
    RunsPage,
    RunStart,
    RunStatus,
    RunUpdate,
    Split,
    StatusRead,
    Text,
)
from server.services import (
    analysis,
    checkpoints,
    handback,
    idempotency,
    metrics,
    predictions,
    runs,
)
from server.services.metrics import series as series_reads
from server.services.runs import attempts
from trainboard.settings import get_settings

router = APIRouter(prefix="/runs", tags=["runs"])
# JSON values a batch may hold, counted before it is parsed: a prediction 5, with room for commas inside
# example ids and labels (metric points: server.api.metrics_body).
PREDICTIONS_BODY = json_body(PredictionsIn, max_values=8 * list_cap(PredictionsIn, "predictions"))

SortKey = Annotated[
    str,
    Query(
        max_length=251,
        pattern=r"^-?[A-Za-z0-9_.\-/:]+$",
        description="A run field (id, name, status, created_at, started_at, finished_at) "
        "or a summary metric; '-' first for descending.",
    ),
]


FilterQuery = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="A filter expression: params.X, metrics.X, tags, name, status, group with "
        '= != < <= > >=, ~ (regex), tags contains "x", and/or/not, parentheses. '
        "A malformed one is a 422 naming the position.",
    ),
    NoNul,
]
NameSearch = Annotated[
    str | None, Query(max_length=200, description="Runs whose name contains this (any case)."), NoNul
]


@router.post("", status_code=201)
def create_run(
    data: RunCreate,
    session: SessionDep,
    queue: QueueDep,
    principal: ApiAuth,
    idempotency_key: IdempotencyKey = None,
) -> RunRead:
    """Queue a training run for a worker, or open an external run that your own script logs to."""
    access.check_body_project(session, principal, data.project_id, access.EDITOR)
    access.check_body_run(session, principal, data.parent_id, "parent_id")
    access.check_config_runs(session, principal, data.config)
    key = idempotency.for_caller(principal.scope, idempotency_key)
    run = runs.create_run(session=session, data=data, queue=queue, idempotency_key=key)
    return runs.to_read(run)


@router.get("", response_model=RunsPage)
def read_runs(
    session: ReadSessionDep,
    principal: ApiAuth,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: RunStatus | None = None,
    sort: SortKey = "-id",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Annotated[
        str | None,
        Query(max_length=2000, description="next_cursor of the previous page (keyset paging)."),
        NoNul,
    ] = None,
    q: FilterQuery = None,
    search: NameSearch = None,
    archived: Annotated[bool, Query(description="true: only archived runs; false: the others.")] = False,
) -> Response:
    """Runs, filtered by project, status, a filter expression and a part of the name, sorted by a field or
    a summary metric."""
    page = runs.list_runs_json(
        q=q,
        search=search,
        archived=archived,
        session=session,
        project_id=project_id,
        status=status,
        sort=sort,
        limit=limit,
        offset=offset,
        cursor=cursor,
        visible=access.visible_project_ids(principal),
    )
    # The RunsPage's JSON, built from the rows without the models (response_model above documents it).
    return Response(page, media_type="application/json")


@router.get("/{run_id}")
def read_run(run_id: IdPath, session: SessionDep, _: ApiAuth) -> RunRead:
    return runs.to_read(runs.get_run(session=session, run_id=run_id))


@router.get("/{run_id}/attempts")
def read_run_attempts(run_id: IdPath, session: SessionDep, _: ApiAuth) -> list[RunAttemptRead]:
    """Each time a worker claimed the run: worker, start, end, how it ended, the epoch it resumed from."""
    runs.get_run(session=session, run_id=run_id)  # 404 for a run that does not exist
    return [RunAttemptRead.model_validate(a) for a in attempts.list_attempts(session=session, run_id=run_id)]


@router.patch("/{run_id}")
def update_run(run_id: IdPath, data: RunUpdate, session: SessionDep, _: ApiAuth) -> RunRead:
    """Rename a run, or change its notes or tags."""
    return runs.to_read(runs.update_run(session=session, run_id=run_id, data=data))


@router.delete("/{run_id}")
def archive_run(run_id: IdPath, session: SessionDep, _: ApiAuth) -> RunRead:
    """Archive the run (soft delete): lists hide it, ?archived=true lists it, /restore brings it back."""
    return runs.to_read(runs.archive_run(session=session, run_id=run_id))


@router.post("/{run_id}/restore")
def restore_run(run_id: IdPath, session: SessionDep, _: ApiAuth) -> RunRead:
    """Bring an archived run back into the lists."""
    return runs.to_read(runs.restore_run(session=session, run_id=run_id))


@router.post("/{run_id}/resume")
def resume_run(run_id: IdPath, session: SessionDep, _: ApiAuth) -> RunResumed:
    """Reopen an external run for its script (trainboard.init(resume=...)), with the last step it logged."""
    run, last_step = runs.resume_run(session=session, run_id=run_id)
    return RunResumed(**runs.to_read(run).model_dump(), last_step=last_step)


@router.post("/{run_id}/cancel")
def cancel_run(run_id: IdPath, session: SessionDep, queue: QueueDep, _: ApiAuth) -> RunRead:
    """Cancel a queued or running run; a running one stops within one training step."""
    return runs.to_read(runs.cancel_run(session=session, run_id=run_id, queue=queue))


@router.post("/{run_id}/finish")
def finish_run(run_id: IdPath, data: RunFinish, session: SessionDep, queue: QueueDep, _: ApiAuth) -> RunRead:
    """Mark a run finished (external runs, and the worker at the end of training); a "succeeded" run that
    never left chance ends "diverged" with the reason."""
    return runs.to_read(analysis.finish_run(session=session, run_id=run_id, data=data, queue=queue))


@router.post("/{run_id}/start")
def start_run(run_id: IdPath, data: RunStart, session: SessionDep, _: ApiAuth) -> RunRead:
    """A worker claims a queued run (or resumes it after a crash); 409 when it is already finished."""
    timeout = get_settings().heartbeat_timeout_s
    return runs.to_read(
        runs.start_run(session=session, run_id=run_id, data=data, heartbeat_timeout_s=timeout)
    )


@router.post("/{run_id}/release")
def release_run(
    run_id: IdPath, data: RunRelease, session: SessionDep, queue: QueueDep, _: ApiAuth
) -> RunRead:
    """A worker that stops gracefully hands its run back: queued again at once, resumed from its checkpoint;
    409 when the run is no longer this worker's (cancelled, finished, or taken over)."""
    run = handback.release_run(session=session, run_id=run_id, data=data, queue=queue)
    observability.HANDED_BACK.inc()
    return runs.to_read(run)


@router.post("/{run_id}/progress")
def report_progress(run_id: IdPath, data: RunProgress, session: SessionDep, _: ApiAuth) -> StatusRead:
    """Progress and heartbeat from the worker; the reply tells it whether the run was cancelled."""
    return StatusRead(status=runs.report_progress(session=session, run_id=run_id, data=data))


@router.post("/{run_id}/heartbeat")
def heartbeat(run_id: IdPath, session: SessionDep, _: ApiAuth) -> StatusRead:
    """An external run's script is alive (the client library sends this every 30 s); replies its status."""
    return StatusRead(status=runs.heartbeat(session=session, run_id=run_id))


# should_stop appears only when true: the reply to every other batch stays {"accepted": n}.
@router.post(
    "/{run_id}/metrics",
    openapi_extra=json_body_doc(MetricsIn),
    response_model=MetricsAccepted,
    response_model_exclude_defaults=True,
)
@body_limit(BATCH_BODY_BYTES)
def log_metrics(
    run_id: IdPath,
    batch: Annotated[Batch, Depends(metric_rows)],
    session: SessionDep,
    queue: QueueDep,
    _: ApiAuth,
) -> JSONResponse:
    """Store metric points; idempotent on (run, key, step). A sweep trial may be stopped early here, and
    `should_stop` then tells its script to end."""
    # The service advances the sweep itself when the trial stops: loading the run again here cost two queries.
    rows, locate = batch
    stored = metrics.store_metric_rows(session=session, run_id=run_id, rows=rows, queue=queue, locate=locate)
    reply = MetricsAccepted(accepted=stored.accepted, should_stop=stored.should_stop)
    # A response returned as such skips FastAPI's validation and serialization of the response model: a
    # tenth of a 1,000-point batch's CPU went there, for one number.
    return JSONResponse(reply.model_dump(exclude_defaults=True))


@router.get("/{run_id}/metrics", response_model=list[str] | MetricSeriesList)
def read_metric_keys(
    run_id: IdPath,
    session: SessionDep,
    _: ApiAuth,
    keys: series_reads.KeysQuery = None,
    max_points: series_reads.MaxPointsQuery = None,
    after_step: series_reads.AfterStepQuery = None,
    with_time: series_reads.WithTimeQuery = False,
) -> Any:
    """The metric keys the run has logged; with `keys`, those series at once (each as the one-key read
    returns it; a key without points, after `after_step`, is left out)."""
    if keys is None:
        runs.get_run(session=session, run_id=run_id)
        return metrics.metric_keys(session=session, run_id=run_id)
    wanted = series_reads.parse_keys(keys)
    series_reads.check_request_size(len(wanted), max_points, with_time=with_time)
    series_reads.check_runs_exist(session.connection(), [run_id])
    found = series_reads.read_many(
        session.connection(),
        [(run_id, key) for key in wanted],
        max_points,
        after_step=after_step,
        with_time=with_time,
    )
    return Response(series_reads.series_json(found), media_type="application/json")


# `times` only comes with the batch reads' with_time: left out here, as the batch read leaves it out.
@router.get("/{run_id}/metrics/{key:path}", response_model=MetricSeries, response_model_exclude_none=True)
def read_metric(
    run_id: IdPath,
    key: Text,
    session: SessionDep,
    _: ApiAuth,
    max_points: series_reads.MaxPointsQuery = None,
    after_step: series_reads.AfterStepQuery = None,
) -> Response:
    """One metric's series; with max_points, reduced so that minima and maxima survive; with after_step,
    only the points after that step."""
    series = metrics.read_series(
        session=session, run_id=run_id, key=key, max_points=max_points, after_step=after_step
    )
    return Response(series_reads.one_series_json(series), media_type="application/json")


@router.post("/{run_id}/predictions", openapi_extra=json_body_doc(PredictionsIn))
@body_limit(BATCH_BODY_BYTES)
def log_predictions(
    run_id: IdPath,
    data: Annotated[PredictionsIn, Depends(PREDICTIONS_BODY)],
    session: SessionDep,
    _: ApiAuth,
) -> Accepted:
    """Store predictions for one split; idempotent on (run, split, task, example_id). A multi-task run's
    predictions each carry their `task`."""
    count = predictions.ingest_predictions(
        session=session, run_id=run_id, split=data.split, predictions=data.predictions
    )
    return Accepted(accepted=count)


@router.get("/{run_id}/errors")
def read_errors(
    run_id: IdPath,
    session: SessionDep,
    _: ApiAuth,
    split: Split = "dev",
    task: TaskQuery = None,
    tag: Annotated[str | None, Query(max_length=100), NoNul] = None,
    untagged: bool = False,
    label: Annotated[str | None, Query(max_length=200), NoNul] = None,
    predicted: Annotated[str | None, Query(max_length=200), NoNul] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    sort: predictions.ErrorSort = "-confidence",
    limit: Limit = 50,
    offset: Offset = 0,
) -> ErrorsPage:
    """The misclassified examples of one split, most confident mistakes first."""
    return predictions.list_errors(
        session=session,
        run_id=run_id,
        split=split,
        task=task,
        label=label,
        predicted=predicted,
        tag=tag,
        untagged=untagged,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.put("/{run_id}/checkpoint", status_code=204)
@body_limit(None)  # streamed to disk against the checkpoint limit
async def save_checkpoint(run_id: IdPath, request: Request, session: SessionDep, _: ApiAuth) -> Response:
    """Store the run's latest checkpoint (raw bytes)."""
    await checkpoints.save_checkpoint(session=session, run_id=run_id, chunks=request.stream())
    return Response(status_code=204)


@router.get("/{run_id}/checkpoint", response_class=FileResponse)
def read_checkpoint(run_id: IdPath, session: SessionDep, _: ApiAuth) -> FileResponse:
    """The run's latest checkpoint, for a worker resuming it."""
    path = checkpoints.find_checkpoint(session=session, run_id=run_id)
    return FileResponse(path, media_type="application/octet-stream")


@router.get("/{run_id}/diagnosis")
def read_diagnosis(
    run_id: IdPath,
    session: SessionDep,
    principal: ApiAuth,
    task: Annotated[
        str | None, Query(max_length=100, description="A multi-task run's task: its own ladder."), NoNul
    ] = None,
) -> dict[str, Any]:
    """Avoidable bias, variance, data mismatch and dev overfitting, the dominant one, and what to try."""
    diagnosis = analysis.diagnose_run(session=session, run_id=run_id, task=task)
    visible = access.visible_project_ids(principal)
    return analysis.with_workspace_advice(
        diagnosis, session=session, run_id=run_id, visible=visible
    ).to_dict()


@router.get("/{run_id}/error-analysis")
def read_error_analysis(
    run_id: IdPath, session: SessionDep, _: ApiAuth, split: Split = "dev", task: TaskQuery = None
) -> dict[str, Any]:
    """Error counts per tag with the ceiling each sets, per-class metrics and the confusion matrix.

    Beyond API.md: `reviewed_errors` (errors with any tag; tag one `reviewed` to add it to the sample without
    a category), and in each `by_tag` row `fraction_of_reviewed` (count / reviewed_errors) and
    `max_error_reduction_reviewed` (fraction_of_reviewed x error_rate). `other` (reviewed, no category) and
    `untagged` (not reviewed) carry the same five numbers as a `by_tag` row, without `tag`.
    """
    return analysis.analyse_run_errors(session=session, run_id=run_id, split=split, task=task).to_dict()
