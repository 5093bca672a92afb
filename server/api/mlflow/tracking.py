"""MLflow's tracking REST API (experiments, runs, metrics): thin routes over the adapter modules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic_core import to_json

from server import access
from server.api.mlflow import experiments, history, runs, search
from server.api.mlflow.errors import ENDPOINT_NOT_FOUND, MlflowError, MlflowRoute, invalid, refuse_workers
from server.api.mlflow.requests import (
    DeleteTag,
    ExperimentCreate,
    ExperimentId,
    ExperimentsSearch,
    ExperimentTag,
    ExperimentTagDelete,
    ExperimentUpdate,
    LogBatch,
    LogMetric,
    LogParam,
    RunCreate,
    RunId,
    RunsSearch,
    RunUpdate,
    SetTag,
    metric_dicts,
    values,
)
from server.auth import ApiAuth
from server.body_guard import BATCH_BODY_BYTES, body_limit
from server.db import SessionDep
from server.schemas import MAX_BIGINT, NoNul


def json_response(body: Json) -> Response:
    """The body serialized at once: FastAPI's encoder of a plain dict took 170 ms for 5,000 points."""
    return Response(to_json(body), media_type="application/json")


router = APIRouter(route_class=MlflowRoute, tags=["mlflow"], dependencies=[Depends(refuse_workers)])
Json = dict[str, Any]
IdQuery = Annotated[str, Query(max_length=100), NoNul]
OptionalId = Annotated[str | None, Query(max_length=100), NoNul]
KeyQuery = Annotated[str, Query(max_length=1000), NoNul]


# Experiments ------------------------------------------------------------------------------------------
@router.post("/experiments/create")
def create_experiment(data: ExperimentCreate, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.create(session, principal, data.name, values(data.tags))
    return {"experiment_id": str(project.id)}


@router.get("/experiments/get")
def get_experiment(experiment_id: IdQuery, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.resolve(session, principal, experiment_id, access.VIEWER)
    return {"experiment": experiments.to_json(session, project)}


@router.get("/experiments/get-by-name")
def get_experiment_by_name(
    experiment_name: Annotated[str, Query(max_length=200), NoNul], session: SessionDep, principal: ApiAuth
) -> Json:
    return {
        "experiment": experiments.to_json(session, experiments.by_name(session, principal, experiment_name))
    }


def _search_experiments(data: ExperimentsSearch, session: SessionDep, principal: ApiAuth) -> Json:
    found, token = experiments.search(
        session,
        principal,
        filter_text=data.filter,
        view_type=data.view_type,
        max_results=data.max_results,
        order_by=data.order_by,
        page_token=data.page_token,
    )
    return {"experiments": found, **({"next_page_token": token} if token else {})}


@router.post("/experiments/search")
def search_experiments(data: ExperimentsSearch, session: SessionDep, principal: ApiAuth) -> Json:
    return _search_experiments(data, session, principal)


@router.get("/experiments/search")
def search_experiments_get(request: Request, session: SessionDep, principal: ApiAuth) -> Json:
    query = request.query_params
    data = ExperimentsSearch.model_validate({**query, "order_by": query.getlist("order_by")})
    return _search_experiments(data, session, principal)


@router.post("/experiments/update")
def update_experiment(data: ExperimentUpdate, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.resolve(session, principal, data.experiment_id, access.OWNER)
    experiments.rename(session, principal, project, data.new_name)
    return {}


@router.post("/experiments/delete")
def delete_experiment(data: ExperimentId, session: SessionDep, principal: ApiAuth) -> Json:
    experiments.set_deleted(
        session, experiments.resolve(session, principal, data.experiment_id, access.OWNER), True
    )
    return {}


@router.post("/experiments/restore")
def restore_experiment(data: ExperimentId, session: SessionDep, principal: ApiAuth) -> Json:
    experiments.set_deleted(
        session, experiments.resolve(session, principal, data.experiment_id, access.OWNER), False
    )
    return {}


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(data: ExperimentTag, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.resolve(session, principal, data.experiment_id, access.EDITOR)
    experiments.set_tag(session, project, data.key, data.value)
    return {}


@router.post("/experiments/delete-experiment-tag")
def delete_experiment_tag(data: ExperimentTagDelete, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.resolve(session, principal, data.experiment_id, access.EDITOR)
    experiments.set_tag(session, project, data.key, None)
    return {}


# Runs -------------------------------------------------------------------------------------------------
@router.post("/runs/create")
def create_run(data: RunCreate, session: SessionDep, principal: ApiAuth) -> Json:
    project = experiments.resolve(session, principal, data.experiment_id, access.EDITOR)
    if experiments.is_deleted(session, project.id):
        raise MlflowError("INVALID_STATE", f"Experiment {project.id} is deleted: restore it to add runs")
    run = runs.create(
        session,
        project,
        run_name=data.run_name,
        start_time=data.start_time,
        tags=values(data.tags),
        user_id=data.user_id,
    )
    return {"run": runs.to_json(session, run)}


def _run(session: SessionDep, principal: ApiAuth, data: RunId, need: int = access.EDITOR) -> Any:
    if data.ident is None:
        raise invalid("Missing value for required parameter 'run_id'")
    return runs.resolve(session, principal, data.ident, need)


@router.get("/runs/get")
def get_run(
    session: SessionDep,
    principal: ApiAuth,
    run_id: OptionalId = None,
    run_uuid: OptionalId = None,
) -> Json:
    run = _run(session, principal, RunId(run_id=run_id, run_uuid=run_uuid), access.VIEWER)
    return {"run": runs.to_json(session, run)}


@router.post("/runs/update")
def update_run(data: RunUpdate, session: SessionDep, principal: ApiAuth) -> Json:
    run = _run(session, principal, data)
    runs.update(session, run, status=data.status, end_time=data.end_time, run_name=data.run_name)
    return {"run_info": runs.to_json(session, run)["info"]}


@router.post("/runs/delete")
def delete_run(data: RunId, session: SessionDep, principal: ApiAuth) -> Json:
    runs.set_deleted(session, _run(session, principal, data), True)
    return {}


@router.post("/runs/restore")
def restore_run(data: RunId, session: SessionDep, principal: ApiAuth) -> Json:
    runs.set_deleted(session, _run(session, principal, data), False)
    return {}


@router.post("/runs/search")
def search_runs(data: RunsSearch, session: SessionDep, principal: ApiAuth) -> Response:
    projects = [experiments.resolve(session, principal, e, access.VIEWER) for e in data.experiment_ids]
    ids, token = search.search_run_ids(
        session,
        projects,
        filter_text=data.filter,
        view_type=data.run_view_type,
        max_results=data.max_results,
        order_by=data.order_by,
        page_token=data.page_token,
    )
    found = {r.id: r for r in runs.load(session, ids)}
    page = runs.to_json_many(session, [found[i] for i in ids if i in found])
    return json_response({"runs": page, **({"next_page_token": token} if token else {})})


@router.post("/runs/log-batch")
@body_limit(BATCH_BODY_BYTES)
def log_batch(data: LogBatch, session: SessionDep, principal: ApiAuth) -> Json:
    run = _run(session, principal, data)
    runs.log_params(session, run, [(p.key, p.value) for p in data.params])
    for tag in data.tags:
        runs.set_tag(session, run, tag.key, tag.value)
    runs.log_metrics(session, run, metric_dicts(data.metrics))
    return {}


@router.post("/runs/log-metric")
def log_metric(data: LogMetric, session: SessionDep, principal: ApiAuth) -> Json:
    run = _run(session, principal, data)
    runs.log_metrics(session, run, [data.model_dump(include={"key", "value", "timestamp", "step"})])
    return {}


@router.post("/runs/log-parameter")
def log_param(data: LogParam, session: SessionDep, principal: ApiAuth) -> Json:
    runs.log_params(session, _run(session, principal, data), [(data.key, data.value)])
    return {}


@router.post("/runs/set-tag")
def set_tag(data: SetTag, session: SessionDep, principal: ApiAuth) -> Json:
    runs.set_tag(session, _run(session, principal, data), data.key, data.value)
    return {}


@router.post("/runs/delete-tag")
def delete_tag(data: DeleteTag, session: SessionDep, principal: ApiAuth) -> Json:
    runs.delete_tag(session, _run(session, principal, data), data.key)
    return {}


@router.post("/runs/log-inputs")
def log_inputs(data: RunId, session: SessionDep, principal: ApiAuth) -> Json:
    """Accepted and not kept: Trainboard has no dataset lineage (README, "Coming from MLflow")."""
    _run(session, principal, data)
    return {}


# Metrics ----------------------------------------------------------------------------------------------
@router.get("/metrics/get-history")
def get_metric_history(
    session: SessionDep,
    principal: ApiAuth,
    metric_key: KeyQuery,
    run_id: OptionalId = None,
    run_uuid: OptionalId = None,
    max_results: Annotated[int | None, Query(ge=1, le=history.MAX_HISTORY_PAGE)] = None,
    page_token: Annotated[str | None, Query(max_length=100), NoNul] = None,
) -> Response:
    run = _run(session, principal, RunId(run_id=run_id, run_uuid=run_uuid), access.VIEWER)
    points, token = history.get_history(
        session, run, metric_key, max_results=max_results, page_token=page_token
    )
    return json_response({"metrics": points, **({"next_page_token": token} if token else {})})


@router.get("/metrics/get-history-bulk-interval")
def get_metric_history_bulk_interval(
    session: SessionDep,
    principal: ApiAuth,
    metric_key: KeyQuery,
    run_ids: Annotated[list[Annotated[str, NoNul]], Query(max_length=100)],
    max_results: Annotated[int, Query(ge=1, le=1000)] = 320,
    start_step: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
    end_step: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    """At most `max_results` points per run that keep each series' shape, read from the rollups."""
    points: list[Json] = []
    for run_id in run_ids:
        run = _run(session, principal, RunId(run_id=run_id), access.VIEWER)
        points += history.sampled(
            session, run, metric_key, max_results=max_results, start_step=start_step, end_step=end_step
        )
    return json_response({"metrics": points})


@router.post("/logged-models/search")
def search_logged_models(_: ApiAuth) -> Json:
    """Trainboard keeps no logged models: none to find. (MLflow 3's client asks before it downloads a run's
    artifacts, in case a path names one.)"""
    return {"models": []}


# Everything else --------------------------------------------------------------------------------------
@router.api_route("/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"], include_in_schema=False)
def unsupported(rest: Annotated[str, NoNul], request: Request, _: ApiAuth) -> Json:
    """A known endpoint with another method is a 405 (as MLflow's server answers); anything else a 501."""
    allowed = _ROUTES.get("/" + rest)
    if allowed:
        raise MlflowError(
            ENDPOINT_NOT_FOUND,
            f"{request.method} is not allowed on {request.url.path}: use {', '.join(sorted(allowed))}",
            405,
        )
    raise MlflowError(
        ENDPOINT_NOT_FOUND,
        f"{request.method} {request.url.path} is not part of Trainboard's MLflow API "
        "(README, 'Coming from MLflow', lists what is)",
    )


_ROUTES: dict[str, set[str]] = {}
for _route in router.routes:
    if isinstance(_route, APIRoute) and _route.endpoint is not unsupported:
        _ROUTES.setdefault(_route.path, set()).update(_route.methods or ())
