"""Run pages: the new-run form (model + hyperparameters) and one run with its live learning curves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

import models
from models.options import DEFAULT_INIT
from server import access
from server.api.deps import IdPath, QueueDep
from server.auth import Principal
from server.datasets import DatasetInfo, get_dataset
from server.db import SessionDep
from server.errors import Conflict, InvalidInput
from server.ids import MAX_ID
from server.pages.charts import X_AXIS_COOKIE, chart_keys, first_read, timed_axis
from server.pages.common import (
    FormData,
    FormErrors,
    PageAuth,
    PageRoute,
    check_csrf,
    redirect,
    render,
    validation_errors,
)
from server.pages.forms import FieldError, FormField, as_text, schema_fields, submitted
from server.pages.ladder import LadderView, ladder_view
from server.schemas import (
    DEFAULT_DECAY_RATES,
    TERMINAL_STATUSES,
    ArtifactRead,
    ErrorItem,
    Hparams,
    NoNul,
    ProjectRead,
    RunCreate,
    RunRead,
    RunUpdate,
    WorkerSlots,
)
from server.services import (
    analysis,
    artifacts,
    comparisons,
    experiments,
    multitask,
    predictions,
    projects,
    runs,
    transfer,
    workers,
)
from server.services.experiments import DataSizeCurve
from server.services.multitask import TaskComparison
from server.services.prediction_tasks import prediction_tasks
from server.services.runs.attempts import AttemptView, attempt_history
from server.services.runs.interruptions import Interruption, interruption
from server.services.transfer import Lineage
from trainboard.settings import get_settings

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])

MAIN_HPARAMS = ("epochs", "batch_size", "lr", "optimizer", "l2", "keep_prob", "seed", "train_fraction")
HPARAM_LABELS = {
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "optimizer": "Optimizer",
    "l2": "L2 regularisation λ",
    "keep_prob": "Dropout keep probability",
    "seed": "Seed",
    "train_fraction": "Training fraction",
    "beta1": "Adam β1",
    "beta2": "Adam β2",
    "beta": "Momentum / RMSprop β",
    "eps": "Epsilon",
    "lr_decay": "Learning-rate decay",
    "early_stopping_patience": "Early-stopping patience",
    "grad_clip": "Gradient clipping",
}
MODEL_LABELS = {
    "hidden": "Hidden layer sizes",
    "batch_norm": "Batch normalisation",
    "use_1x1": "1x1 bottlenecks",
}
CANONICAL_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error", "train_loss", "dev_loss", "lr")
ERRORS_SHOWN = 20
#: The form's choices for `transfer.trainable` (the API takes any N).
TRAINABLE_CHOICES = (
    ("head", "the output layer only (a small target set)"),
    ("2", "the last 2 weight layers"),
    ("3", "the last 3 weight layers"),
    ("all", "every layer (more target data)"),
)
MAX_POINTS = 2000


@dataclass(frozen=True)
class ModelChoice:
    name: str
    description: str
    fields: list[FormField]


@dataclass
class RunFormContext:
    project: ProjectRead
    dataset: DatasetInfo | None
    models: list[ModelChoice]
    model: str
    hparams: list[FormField]
    advanced: list[FormField]
    name: str
    parent_id: int | None
    errors: FormErrors = field(default_factory=FormErrors)
    # Transfer: the run whose weights this one starts from (text as typed) and what it trains.
    transfer_from: str = ""
    trainable: str = "head"
    trainable_choices: tuple[tuple[str, str], ...] = TRAINABLE_CHOICES
    #: The live workers' slots: whether a run submitted now starts at once.
    slots: WorkerSlots | None = None


@dataclass(frozen=True)
class Row:
    key: str
    value: str
    numeric: bool = False


@dataclass
class RunContext:
    run: RunRead
    project: ProjectRead
    active: bool
    model_rows: list[Row]
    hparam_rows: list[Row]
    param_rows: list[Row]
    summary_rows: list[Row]
    progress: dict[str, Any] | None
    eta: str
    errors: list[ErrorItem]
    errors_total: int
    page_data: dict[str, Any]
    ladder: LadderView
    data_size: DataSizeCurve | None
    environment_rows: list[Row]
    # The notes-and-tags form: what was typed (tags comma-separated) and, after a refused save, why.
    notes_form: dict[str, str]
    notes_errors: FormErrors = field(default_factory=FormErrors)
    lineage: Lineage = field(default_factory=Lineage)
    # A multi-task run: its tasks, and the one whose ladder the page shows (None: all tasks together).
    tasks: list[str] = field(default_factory=list)
    task: str | None = None
    task_comparison: TaskComparison | None = None
    #: The task whose misclassified examples the page lists (a multi-task run's; None otherwise).
    errors_task: str | None = None
    artifacts: list[ArtifactRead] = field(default_factory=list)
    #: A worker's run cut off by a restart or crash: why, and the epoch it resumes after.
    interruption: Interruption | None = None
    #: Each claim by a worker and how it ended, once there was more than one (or it was cut off).
    attempts: list[AttemptView] = field(default_factory=list)


def _model_choices(dataset: DatasetInfo, values: dict[str, Any]) -> list[ModelChoice]:
    """The architectures that fit the dataset, each with its option inputs (`values` fills the chosen one)."""
    choices = []
    for name, spec in models.MODELS.items():
        if dataset.kind not in spec.options.supported_kinds:
            continue
        shown = values if values.get("name") == name else {}
        fields = schema_fields(
            spec.options,
            input_prefix=f"m_{name}_",
            path_prefix="model.",
            values=shown,
            labels=MODEL_LABELS,
            skip=("name",),
        )
        description = spec.options.model_fields["name"].description or name
        choices.append(ModelChoice(name=name, description=description, fields=fields))
    return choices


def _hparam_fields(values: dict[str, Any]) -> list[FormField]:
    return schema_fields(
        Hparams, input_prefix="hp_", path_prefix="hparams.", values=values, labels=HPARAM_LABELS
    )


def _form_context(
    project: ProjectRead,
    *,
    model: dict[str, Any],
    hparams: dict[str, Any],
    name: str,
    parent_id: int | None,
    errors: FormErrors,
    dataset: DatasetInfo | None,
    slots: WorkerSlots | None = None,
) -> RunFormContext:
    fields = _hparam_fields(hparams)
    choices = _model_choices(dataset, model) if dataset else []
    default_model = models.DEFAULT_MODEL_BY_KIND.get(dataset.kind, "mlp") if dataset else "mlp"
    return RunFormContext(
        project=project,
        dataset=dataset,
        models=choices,
        model=str(model.get("name") or default_model),
        hparams=[f for f in fields if f.path.removeprefix("hparams.") in MAIN_HPARAMS],
        advanced=[f for f in fields if f.path.removeprefix("hparams.") not in MAIN_HPARAMS],
        name=name,
        parent_id=parent_id,
        errors=errors,
        slots=slots,
    )


def _slots(session: Session) -> WorkerSlots:
    return workers.free_slots(session=session, timeout_s=get_settings().worker_timeout_s)


@router.get("/projects/{project_id}/runs/new")
def new_run(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    parent: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    transfer: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The new-run form, filled with the dataset's defaults, or with a parent run's config to start from;
    `transfer` names a run whose weights (and architecture) the new run starts from."""
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    dataset = get_dataset(project.dataset, session=session)
    hparams: dict[str, Any] = dict(dataset.default_hparams) if dataset else {}
    model: dict[str, Any] = {}
    if parent is not None:
        config = runs.get_run(session=session, run_id=parent).config
        model = dict(config.get("model") or {})
        hparams.update(config.get("hparams") or {})
        transfer = transfer or (config.get("transfer") or {}).get("from_run_id")
    if transfer is not None:  # the architecture is the source's: its layers must match to be carried over
        model = dict(runs.get_run(session=session, run_id=transfer).config.get("model") or {})
    context = _form_context(
        project,
        model=model,
        hparams=hparams,
        name="",
        parent_id=parent,
        errors=FormErrors(),
        dataset=dataset,
        slots=_slots(session),
    )
    context.transfer_from = str(transfer or "")
    return render(request, "runs/new.html", context)


def _input_for(model_name: str) -> Any:
    def input_for(loc: tuple[str | int, ...]) -> str:
        # `loc` is a config path without "body" and "config": ("hparams", "lr"), ("model", "hidden", 0).
        if loc[:1] == ("hparams",) and len(loc) > 1:
            return f"hp_{loc[1]}"
        if loc[:1] == ("model",) and len(loc) > 1:
            return "model" if loc[1] == "name" else f"m_{model_name}_{loc[1]}"
        if loc[:1] == ("transfer",):
            return "transfer_trainable" if loc[1:2] == ("trainable",) else "transfer_from"
        return str(loc[0]) if loc else "name"

    return input_for


def _label_for(context: RunFormContext) -> Any:
    labels = {f.input_name: f.label for f in [*context.hparams, *context.advanced]}
    for choice in context.models:
        labels.update({f.input_name: f.label for f in choice.fields})
    labels.update(
        model="Model",
        name="Run name",
        parent_id="Parent run",
        transfer_from="Start from run",
        transfer_trainable="Train",
    )
    return lambda input_name: labels.get(input_name, "")


def _submission(context: RunFormContext, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, hparams) from the form; raises FieldError for values the schema cannot even read."""
    choice = next((c for c in context.models if c.name == context.model), None)
    if choice is None:
        known = ", ".join(c.name for c in context.models)
        raise FieldError("model", f"Model (model.name): choose one of {known}, but got {context.model!r}")
    model = {"name": choice.name, **submitted(choice.fields, form)}
    return model, submitted([*context.hparams, *context.advanced], form)


@router.post("/projects/{project_id}/runs")
def create_run(
    request: Request, project_id: IdPath, session: SessionDep, queue: QueueDep, form: FormData
) -> Response:
    """Queue a run from the form (the same service as POST /api/v1/runs) and open its page."""
    check_csrf(request, form.get("csrf_token"))
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    parent_text = form.get("parent_id", "").strip()
    model_name = form.get("model", "").strip()
    # Re-render with what was typed: rebuild the inputs from the submitted text.
    typed = {k.removeprefix("hp_"): v for k, v in form.items() if k.startswith("hp_")}
    typed_model = {
        k.removeprefix(f"m_{model_name}_"): v for k, v in form.items() if k.startswith(f"m_{model_name}_")
    }
    context = _form_context(
        project,
        dataset=get_dataset(project.dataset, session=session),
        model={"name": model_name, **typed_model},
        hparams={f: typed.get(f, "") for f in Hparams.model_fields},
        name=form.get("name", ""),
        parent_id=int(parent_text) if parent_text.isascii() and parent_text.isdigit() else None,
        errors=FormErrors(),
        slots=_slots(session),
    )
    context.transfer_from = form.get("transfer_from", "").strip()
    context.trainable = form.get("transfer_trainable", "head").strip()
    try:
        model, hparams = _submission(context, form)
        config: dict[str, Any] = {"model": model, "hparams": hparams}
        if context.transfer_from:
            trainable = context.trainable
            config["transfer"] = {
                "from_run_id": context.transfer_from,
                "trainable": int(trainable) if trainable.isascii() and trainable.isdigit() else trainable,
            }
        data = RunCreate.model_validate(
            {
                "project_id": project.id,
                "name": form.get("name", "").strip() or None,
                "parent_id": parent_text or None,
                "config": config,
            }
        )
        # The parent and the transfer source must be runs the caller may read (PageAuth put the caller
        # on request.state).
        access.check_body_run(session, request.state.principal, data.parent_id, "parent_id")
        access.check_config_runs(session, request.state.principal, data.config)
        run = runs.create_run(session=session, data=data, queue=queue)
    except FieldError as exc:
        context.errors.add(exc.input_name, exc.message)
    except ValidationError as exc:
        context.errors = validation_errors(
            exc, input_for=_input_for(model_name), label_for=_label_for(context), skip=("config",)
        )
    except InvalidInput as exc:
        loc = tuple(part for part in exc.loc if part not in ("body", "config"))
        input_name = _input_for(model_name)(loc)
        path = ".".join(str(p) for p in loc if not str(p).isdigit())
        label = _label_for(context)(input_name)
        context.errors.add(
            input_name, f"{label} ({path}): {exc.message}" if label else f"{path}: {exc.message}"
        )
    else:
        return redirect(f"/runs/{run.id}", f"Run {run.name!r} queued: a worker will pick it up.")
    return render(request, "runs/new.html", context, status_code=422)


def _rows(values: dict[str, Any]) -> list[Row]:
    rows = []
    for key, value in values.items():
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, dict)
            else as_text(value)
        )
        if isinstance(value, bool):
            text = "yes" if value else "no"
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        rows.append(Row(key=key, value=text if text != "" else "—", numeric=numeric))
    return rows


def _with_defaults_shown(
    model: dict[str, Any], hparams: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Blank fields whose default hangs on another, shown as what they became: "he (default for relu)"."""
    model, hparams = dict(model), dict(hparams)
    activation = model.get("activation")
    if "init" in model and model["init"] is None and activation in DEFAULT_INIT:
        model["init"] = f"{DEFAULT_INIT[activation]} (default for {activation})"
    schedule = hparams.get("lr_decay")
    if "decay_rate" in hparams and hparams["decay_rate"] is None and schedule in DEFAULT_DECAY_RATES:
        hparams["decay_rate"] = f"{DEFAULT_DECAY_RATES[schedule]:g} (default for {schedule})"
    return model, hparams


def _summary_rows(summary: dict[str, float]) -> list[Row]:
    keys = [k for k in CANONICAL_KEYS if k in summary] + sorted(k for k in summary if k not in CANONICAL_KEYS)
    rows = []
    for key in keys:
        value = summary[key]
        text = f"{value * 100:.2f} %" if key.endswith("_error") else f"{value:.4g}"
        rows.append(Row(key=key, value=text, numeric=True))
    return rows


def format_eta(seconds: float | None) -> str:
    """ETA as people read it: "45 s", "3 min 20 s", "2 h 5 min"."""
    if seconds is None:
        return "—"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _run_context(
    session: Session,
    run_id: int,
    principal: Principal,
    notes_form: dict[str, str] | None = None,
    notes_errors: FormErrors | None = None,
    task: str | None = None,
    timed: bool = False,
) -> RunContext:
    run = runs.get_run(session=session, run_id=run_id)
    read = runs.to_read(run)
    project = projects.to_read(run.project)
    # A multi-task run lists the errors of the task its ladder shows, else its first task's.
    predicted_tasks = prediction_tasks(session=session, run=run)
    errors_task = (task if task in predicted_tasks else predicted_tasks[0]) if predicted_tasks else None
    errors = predictions.list_errors(
        session=session, run_id=run.id, split="dev", task=errors_task, limit=ERRORS_SHOWN
    )
    active = read.status not in TERMINAL_STATUSES
    series_url = f"/api/v1/runs/{read.id}/metrics"
    config = read.config or {}
    model, hparams = _with_defaults_shown(config.get("model") or {}, config.get("hparams") or {})
    return RunContext(
        interruption=interruption(session=session, run=run),
        attempts=attempt_history(session=session, run=run),
        run=read,
        project=project,
        active=active,
        model_rows=_rows(model),
        hparam_rows=_rows(hparams),
        param_rows=_rows(read.params),
        summary_rows=_summary_rows(read.summary),
        progress=read.progress if active else None,
        eta=format_eta((read.progress or {}).get("eta_s")),
        errors=errors.items,
        errors_total=errors.total,
        page_data={
            "id": read.id,
            "status": read.status,
            "active": active,
            "run_url": f"/api/v1/runs/{read.id}",
            "metrics_url": f"/api/v1/runs/{read.id}/metrics/",
            "series_url": series_url,  # ?keys=...: every chart in one request
            "metric_keys": sorted(read.summary),  # one summary value per logged key
            "max_points": MAX_POINTS,
            "first_read": first_read(series_url, read.summary, MAX_POINTS, with_time=timed),
            "x_cookie": X_AXIS_COOKIE,
            "human_level_error": project.human_level_error,
            **chart_keys(),
        },
        ladder=ladder_view(
            analysis.with_workspace_advice(
                analysis.diagnose_run(session=session, run_id=run.id, task=task),
                session=session,
                run_id=run.id,
                visible=access.visible_project_ids(principal),
            ),
            analysis.group_ladder(session=session, run=run),
        ),
        data_size=experiments.data_size_curve_of(session=session, run_id=run.id),
        environment_rows=[Row(k, v) for k, v in comparisons.environment_rows(read.environment)],
        notes_form=notes_form or {"name": read.name, "notes": read.notes, "tags": ", ".join(read.tags)},
        notes_errors=notes_errors or FormErrors(),
        lineage=transfer.lineage(session=session, run=run, visible=access.visible_project_ids(principal)),
        tasks=list(analysis.run_tasks(session=session, run=run)),
        task=task,
        errors_task=errors_task,
        task_comparison=multitask.task_comparison(session=session, run_id=run.id),
        artifacts=[
            ArtifactRead.model_validate(a) for a in artifacts.list_artifacts(session=session, run_id=run.id)
        ],
    )


@router.get("/runs/{run_id}")
def read_run(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    task: Annotated[str | None, Query(max_length=100), NoNul] = None,
) -> Response:
    """One run: status, progress, config, summary, learning curves and misclassified dev examples; a
    multi-task run's ladder for one `task`."""
    timed = timed_axis(request.cookies)
    context = _run_context(session, run_id, request.state.principal, task=task, timed=timed)
    return render(request, "runs/detail.html", context)


@router.get("/runs/{run_id}/fine-tune")
def fine_tune_run(
    run_id: IdPath, project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> Response:
    """The run page's "Fine-tune this run on another dataset": the chosen project's new-run form, set to
    start from this run's weights (without a project chosen, back to the run's page)."""
    if project_id is None:
        return RedirectResponse(f"/runs/{run_id}#weights", status_code=303)
    return RedirectResponse(f"/projects/{project_id}/runs/new?transfer={run_id}", status_code=303)


@router.post("/runs/{run_id}/cancel")
def cancel_run(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    queue: QueueDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Cancel a queued or running run (a sweep's trial: its sweep queues the next, as the API's cancel)."""
    check_csrf(request, csrf_token)
    try:
        run = runs.cancel_run(session=session, run_id=run_id, queue=queue)
    except Conflict as exc:
        return redirect(f"/runs/{run_id}", exc.message, level="warning")
    return redirect(f"/runs/{run.id}", f"Run {run.name!r} cancelled.", level="info")


NOTES_LABELS = {"name": "Name", "notes": "Notes", "tags": "Tags"}


@router.post("/runs/{run_id}/notes")
def update_notes(request: Request, run_id: IdPath, session: SessionDep, form: FormData) -> Response:
    """Save the run's name, notes and tags (the same service as PATCH /api/v1/runs/{id}); a form without a
    name field keeps the name."""
    check_csrf(request, form.get("csrf_token"))
    typed = {"name": form.get("name"), "notes": form.get("notes", ""), "tags": form.get("tags", "")}
    tags = [tag.strip() for tag in (typed["tags"] or "").split(",") if tag.strip()]
    changes: dict[str, Any] = {"notes": typed["notes"], "tags": tags}
    if typed["name"] is not None:
        changes["name"] = typed["name"]
    try:
        data = RunUpdate.model_validate(changes)
    except ValidationError as exc:
        errors = validation_errors(
            exc, input_for=lambda loc: str(loc[0]), label_for=lambda name: NOTES_LABELS.get(name, "")
        )
        shown = {name: value or "" for name, value in typed.items()}  # what was typed, shown back
        context = _run_context(
            session,
            run_id,
            request.state.principal,
            notes_form=shown,
            notes_errors=errors,
            timed=timed_axis(request.cookies),
        )
        return render(request, "runs/detail.html", context, status_code=422)
    runs.update_run(session=session, run_id=run_id, data=data)
    return redirect(f"/runs/{run_id}", "Name, notes and tags saved.")


@router.post("/runs/{run_id}/archive")
def archive_run(request: Request, run_id: IdPath, session: SessionDep, form: FormData) -> Response:
    """Archive the run (DELETE /api/v1/runs/{id}): the project's table hides it until it is restored."""
    check_csrf(request, form.get("csrf_token"))
    run = runs.archive_run(session=session, run_id=run_id)
    return redirect(f"/runs/{run.id}", f"Run {run.name!r} archived: the runs table hides it.", level="info")


@router.post("/runs/{run_id}/restore")
def restore_run(request: Request, run_id: IdPath, session: SessionDep, form: FormData) -> Response:
    """Bring an archived run back into the project's table."""
    check_csrf(request, form.get("csrf_token"))
    run = runs.restore_run(session=session, run_id=run_id)
    return redirect(f"/runs/{run.id}", f"Run {run.name!r} restored.")
