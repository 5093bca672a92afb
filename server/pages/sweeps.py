"""Sweep pages: the new-sweep form (parameters from the config schema, a distribution and range for each, with
a preview of the draws) and one sweep's progress, trials, best trial, plots and parameter importance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from server import search
from server.api.deps import IdPath, QueueDep
from server.datasets import get_dataset
from server.db import SessionDep
from server.errors import Conflict, InvalidInput
from server.ids import MAX_ID, parse_id
from server.leaderboard import constraint_from_dict, describe
from server.pages.common import FormData, FormErrors, PageAuth, PageRoute, check_csrf, redirect, render
from server.pages.sweep_form import KINDS, ParamRow, default_model, param_rows, script_rows
from server.schemas import ProjectRead, SweepCreate, SweepRead, SweepSummary, SweepZoom, Text, WorkerSlots
from server.services import projects, runs, sweep_results, sweeps, workers
from server.tables import Run
from server.worker_slots import excess_parallelism
from trainboard.metric_keys import ERROR_KEYS
from trainboard.settings import get_settings

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])


@dataclass
class SweepFormContext:
    project: ProjectRead
    rows: list[ParamRow]
    values: dict[str, str]
    script_rows: list[ParamRow] = field(default_factory=script_rows)
    #: What the project's sweeps can train: built-in models only where it has a built-in dataset.
    targets: tuple[str, ...] = ("zoo", "script")
    kinds: tuple[str, ...] = KINDS
    errors: FormErrors = field(default_factory=FormErrors)
    #: Runs a zoo sweep can start from (their whole config, any model): (id, label), newest first.
    base_runs: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SweepListContext:
    project: ProjectRead
    sweeps: list[SweepSummary]


@dataclass
class SweepContext:
    sweep: SweepRead
    project: ProjectRead
    params: list[str]
    best: dict[str, Any] | None
    page_data: dict[str, Any]
    constraints: list[str]
    #: The command that runs a script sweep's trials, and where agents reach this server.
    agent_command: str
    server_url: str
    zoom_top_k: int = SweepZoom().top_k
    #: The live workers' slots, while a sweep of built-in models runs (its trials need them); else None.
    slots: WorkerSlots | None = None
    #: Trials at once beyond the live workers' slots: they cannot all run together.
    excess_parallelism: int = 0
    #: Error keys show as percentages, as on every other page (the API keeps fractions).
    percent_keys: tuple[str, ...] = ERROR_KEYS


def _model_name(project: ProjectRead, session: Session) -> str:
    dataset = get_dataset(project.dataset, session=session)
    return default_model(dataset.kind if dataset else None)


def _targets(project: ProjectRead, session: Session) -> tuple[str, ...]:
    return ("zoo", "script") if get_dataset(project.dataset, session=session) else ("script",)


def _default_values(project: ProjectRead, session: Session) -> dict[str, str]:
    dataset = get_dataset(project.dataset, session=session)
    epochs = str((dataset.default_hparams if dataset else {}).get("epochs", 10))
    return {
        "target": "zoo" if dataset else "script",
        "name": "",
        "strategy": "random",
        "trials": "20",
        "parallelism": "2",
        "seed": "0",
        "early_stopping": "asha",
        "base_epochs": epochs,
        "base_hidden": "64",
        "base_run": "",
    }


#: How many of a project's newest runs the form offers as a starting config.
BASE_RUN_CHOICES = 50


def _base_runs(project_id: int, session: Session) -> list[tuple[int, str]]:
    page = runs.list_runs(
        session=session, project_id=project_id, status=None, sort="-id", limit=BASE_RUN_CHOICES, offset=0
    )
    return [
        (r.id, f"#{r.id} {r.name} ({r.config.get('model', {}).get('name', '?')})")
        for r in page.items
        if not r.external
    ]


def _base_run(project_id: int, ref: str | int | None, session: Session) -> dict[str, Any] | None:
    """The config of the run a sweep starts from (one of this project's runs of a built-in model), or None."""
    if ref in (None, ""):
        return None
    run_id = parse_id(str(ref))
    run = None if run_id is None else session.get(Run, run_id)
    if run is None or run.project_id != project_id or run.external:
        raise InvalidInput(
            ["base_run"], f"run {str(ref)[:20]} is not a run of a built-in model in this project"
        )
    return dict(run.config)


def _model_of(config: dict[str, Any] | None, project: ProjectRead, session: Session) -> str:
    model = (config or {}).get("model") or {}
    return str(model.get("name") or _model_name(project, session))


def _choice_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _rows_from_form(form: dict[str, str], defaults: list[ParamRow]) -> list[ParamRow]:
    rows = []
    for i, row in enumerate(defaults):
        rows.append(
            ParamRow(
                row.path,
                row.label,
                form.get(f"dist_{i}", row.kind),
                form.get(f"low_{i}", row.low),
                form.get(f"high_{i}", row.high),
                form.get(f"choices_{i}", row.choices),
                on=form.get(f"on_{i}") == "true",
            )
        )
    return rows


def _script_rows_from_form(form: dict[str, str]) -> list[ParamRow]:
    """The form's free-form rows for a script's parameters; a row counts once it has a name."""
    rows = []
    for i, row in enumerate(script_rows()):
        path = form.get(f"sp_path_{i}", "").strip()
        rows.append(
            ParamRow(
                path,
                path,
                form.get(f"sp_dist_{i}", row.kind),
                form.get(f"sp_low_{i}", ""),
                form.get(f"sp_high_{i}", ""),
                form.get(f"sp_choices_{i}", ""),
                on=bool(path),
            )
        )
    return rows


def _space(rows: list[ParamRow], errors: FormErrors, prefix: str = "param_") -> dict[str, Any]:
    """The API's space from the ticked rows; a row's error goes under `prefix` + its index."""
    space: dict[str, Any] = {}
    for i, row in enumerate(rows):
        if not row.on:
            continue
        if row.kind == "choice":
            space[row.path] = {
                "choice": [_choice_value(c.strip()) for c in row.choices.split(";") if c.strip()]
            }
            continue
        try:
            bounds = [float(row.low), float(row.high)]
        except ValueError:
            errors.add(f"{prefix}{i}", f"{row.label} ({row.path}): low and high must be numbers")
            continue
        space[row.path] = {row.kind: bounds}
    if not space and not errors:
        errors.add("space", "Tick at least one parameter to search.")
    return space


def _sweep_create(
    project_id: int,
    model: str,
    form: dict[str, str],
    space: dict[str, Any],
    base_run: dict[str, Any] | None = None,
) -> SweepCreate:
    early = form.get("early_stopping", "none")
    target = form.get("target", "zoo")
    base: dict[str, Any] = {}
    if target == "zoo" and base_run is not None:  # the run's whole config; the space overrides it
        base["base_config"] = base_run
    elif target == "zoo":  # a script keeps its own defaults
        hidden = [int(x) for x in form.get("base_hidden", "").replace(" ", "").split(",") if x]
        base["base_config"] = {"hparams": {"epochs": form.get("base_epochs") or 10}}
        if hidden and model == "mlp":
            base["base_config"]["model"] = {"name": "mlp", "hidden": hidden}
    return SweepCreate.model_validate(
        {
            "project_id": project_id,
            "name": form.get("name") or None,
            "target": target,
            **base,
            "space": space,
            "strategy": form.get("strategy", "random"),
            "trials": form.get("trials") or None,
            "parallelism": form.get("parallelism") or 1,
            "early_stopping": None if early == "none" else {"rule": early},
            "seed": form.get("seed") or 0,
        }
    )


@router.get("/projects/{project_id}/sweeps")
def read_sweeps(request: Request, project_id: IdPath, session: SessionDep) -> Response:
    """A project's sweeps, newest first."""
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    page = sweep_results.list_sweeps(session=session, project_id=project_id, limit=200, offset=0)
    return render(request, "sweeps/list.html", SweepListContext(project=project, sweeps=page.items))


@router.get("/projects/{project_id}/sweeps/new")
def new_sweep(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    from_run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The new-sweep form; `from_run` starts it from that run's config ("Sweep around this run")."""
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    base = _base_run(project_id, from_run, session)
    defaults = param_rows(_model_of(base, project, session))
    rows = [ParamRow(**{**r.__dict__, "on": r.path == "hparams.lr"}) for r in defaults]
    values = _default_values(project, session)
    if base is not None:
        values.update(target="zoo", base_run=str(from_run))
        lr = base.get("hparams", {}).get("lr")
        if isinstance(lr, int | float) and lr > 0:  # around the run: a decade either side of its rate
            rows = [
                replace(r, low=f"{lr / 10:g}", high=f"{lr * 10:g}") if r.path == "hparams.lr" else r
                for r in rows
            ]
    context = SweepFormContext(
        project,
        rows,
        values,
        targets=_targets(project, session),
        base_runs=_base_runs(project_id, session),
    )
    return render(request, "sweeps/new.html", context)


@router.post("/projects/{project_id}/sweeps")
def create_sweep(
    request: Request, project_id: IdPath, session: SessionDep, queue: QueueDep, form: FormData
) -> Response:
    """Start a sweep from the form (the same service as POST /api/v1/sweeps) and open its page."""
    check_csrf(request, form.get("csrf_token"))
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    base = _base_run(
        project_id, form.get("base_run") if form.get("target", "zoo") == "zoo" else None, session
    )
    model = _model_of(base, project, session)
    rows = _rows_from_form(form, param_rows(model))
    free_rows = _script_rows_from_form(form)
    defaults = _default_values(project, session)
    values = {**defaults, **{k: v for k, v in form.items() if k in defaults}}
    script = values["target"] == "script"
    errors = FormErrors()
    # Errors land next to the rows of the chosen target: param_3 (zoo) or sp_3 (script).
    chosen, prefix = (free_rows, "sp_") if script else (rows, "param_")
    space = _space(chosen, errors, prefix)
    if not errors:
        try:
            sweep = sweeps.create_sweep(
                session=session, data=_sweep_create(project_id, model, form, space, base), queue=queue
            )
            return redirect(f"/sweeps/{sweep.id}", f"Sweep {sweep.name!r} started.")
        except ValidationError as exc:
            for error in exc.errors():
                errors.add(str(error["loc"][0]), f"{'.'.join(map(str, error['loc']))}: {error['msg']}")
        except (InvalidInput, ValueError) as exc:
            loc = [str(p) for p in getattr(exc, "loc", [])]
            path = loc[2] if loc[:2] == ["body", "space"] and len(loc) > 2 else None
            index = next((i for i, r in enumerate(chosen) if r.on and r.path == path), None)
            name = f"{prefix}{index}" if index is not None else "space"
            errors.add(name, f"{path}: {getattr(exc, 'message', str(exc))}" if path else str(exc))
    context = SweepFormContext(
        project,
        rows,
        values,
        free_rows,
        targets=_targets(project, session),
        errors=errors,
        base_runs=_base_runs(project_id, session),
    )
    return render(request, "sweeps/new.html", context, status_code=422)


def _page_data(sweep: SweepRead) -> dict[str, Any]:
    metric = sweep.optimizing_metric
    ordered = sorted(sweep.trials, key=lambda t: (t.finished_at is None, t.finished_at or t.created_at))
    finished = [t for t in ordered if t.status == "succeeded"]
    values = [t.summary.get(metric) for t in finished]
    elapsed, total = [], 0.0
    for trial in finished:
        if trial.started_at and trial.finished_at:
            total += (trial.finished_at - trial.started_at).total_seconds()
        elapsed.append(round(total, 2))
    return {
        "id": sweep.id,
        "api_url": f"/api/v1/sweeps/{sweep.id}",
        "status": sweep.status,
        "counts": sweep.counts.model_dump(),  # with the status, what the page shows
        "metric": metric,
        "maximize": search.is_maximized(metric),
        "percent": metric in ERROR_KEYS,  # charts draw an error key in %, like the tables and other pages
        "params": list(sweep.space),
        "scales": sweep.scales,
        "best_run_id": sweep.best_run_id,
        "best_so_far": {
            "trial": list(range(1, len(finished) + 1)),
            "seconds": elapsed,
            "value": search.best_so_far(values, maximize=search.is_maximized(metric)),
            "run_ids": [t.id for t in finished],
        },
    }


@router.get("/sweeps/{sweep_id}")
def read_sweep(request: Request, sweep_id: IdPath, session: SessionDep) -> Response:
    """One sweep: progress, trials, best trial, plots and parameter importance."""
    sweep = sweep_results.read_sweep(session=session, sweep_id=sweep_id)
    project = projects.to_read(projects.get_project(session=session, project_id=sweep.project_id))
    best = next((t.model_dump(mode="json") for t in sweep.trials if t.id == sweep.best_run_id), None)
    context = SweepContext(
        sweep=sweep,
        project=project,
        params=list(sweep.space),
        best=best,
        page_data=_page_data(sweep),
        constraints=[describe(constraint_from_dict(c.model_dump())) for c in sweep.satisficing],
        agent_command=f"trainboard agent {sweep.id} -- python train.py",
        server_url=str(request.base_url).rstrip("/"),
    )
    if sweep.target != "script" and sweep.status == "running":
        context.slots = workers.free_slots(session=session, timeout_s=get_settings().worker_timeout_s)
        context.excess_parallelism = excess_parallelism(sweep.parallelism, context.slots)
    return render(request, "sweeps/detail.html", context)


@router.post("/sweeps/{sweep_id}/{action}")
def act_on_sweep(
    request: Request, sweep_id: IdPath, action: Text, session: SessionDep, queue: QueueDep, form: FormData
) -> Response:
    """Pause, resume, cancel, or zoom in (a new, narrower sweep)."""
    check_csrf(request, form.get("csrf_token"))
    try:
        if action == "pause":
            sweeps.pause_sweep(session=session, sweep_id=sweep_id)
        elif action == "resume":
            sweeps.resume_sweep(session=session, sweep_id=sweep_id, queue=queue)
        elif action == "cancel":
            sweeps.cancel_sweep(session=session, sweep_id=sweep_id)
        elif action == "zoom":
            zoomed = sweep_results.zoom_sweep(
                session=session, sweep_id=sweep_id, data=SweepZoom(), queue=queue
            )
            return redirect(f"/sweeps/{zoomed.id}", f"Zoomed in: sweep {zoomed.name!r} started.")
        else:
            return redirect(f"/sweeps/{sweep_id}", f"Unknown action {action!r}.", level="error")
    except Conflict as exc:
        return redirect(f"/sweeps/{sweep_id}", exc.message, level="warning")
    labels = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
    return redirect(f"/sweeps/{sweep_id}", f"Sweep {labels[action]}.", level="info")
