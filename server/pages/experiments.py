"""Next-experiment pages: "try next", repeat-with-seeds and data-size-curve buttons of the run page, and
the compare page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError

from server import access
from server.api.deps import IdPath, QueueDep
from server.db import SessionDep
from server.errors import Conflict, InvalidInput
from server.pages.charts import chart_keys
from server.pages.common import FormData, PageAuth, PageRoute, check_csrf, redirect, render
from server.pages.ladder import LadderView, ladder_view
from server.schemas import RunRead, RunRepeat, Text
from server.services import comparisons, experiments, groups, multitask, sweep_agents
from server.services.comparisons import ConfigRow
from server.services.runs import get_run

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])

#: What the flash after handing a script run's copy to a sweep says (its page shows the command).
AGENT_HINT = "run trainboard agent with your training command to train it, as this page shows."

#: One colour per compared run (up to comparisons.MAX_RUNS), shared by the table swatches and the chart.
RUN_COLORS = (
    "#2456d6", "#e67e22", "#1e8449", "#8e44ad", "#c0392b",
    "#16a085", "#7f8c8d", "#d4ac0d", "#2c3e50", "#e84393",
)  # fmt: skip


@router.post("/runs/{run_id}/try-next")
def try_next(
    request: Request, run_id: IdPath, session: SessionDep, queue: QueueDep, form: FormData
) -> Response:
    """Clone the run with one recommended change (path = JSON value), queue it and open the child; a run of
    your own script gets a one-trial sweep for trainboard agent instead, and its page opens."""
    check_csrf(request, form.get("csrf_token"))
    path = form.get("path", "").strip()
    try:
        value = json.loads(form.get("value", ""))
    except ValueError:
        return redirect(f"/runs/{run_id}", f"{path or 'value'}: the new value is not valid JSON.", "error")
    change = f"{path} = {json.dumps(value)}"
    try:
        if get_run(session=session, run_id=run_id).external:
            sweep = sweep_agents.try_next_for_agent(
                session=session, run_id=run_id, changes={path: value}, queue=queue
            )
            message = f"The copy of run #{run_id} with {change} waits in sweep {sweep.name!r}: {AGENT_HINT}"
            return redirect(f"/sweeps/{sweep.id}", message)
        access.check_change_runs(session, request.state.principal, {path: value})
        child = experiments.clone_run(session=session, run_id=run_id, changes={path: value}, queue=queue)
    except InvalidInput as exc:
        return redirect(f"/runs/{run_id}", f"Could not queue the experiment: {exc.message}", "error")
    message = f"Run {child.name!r} queued with {change}, as a child of run #{run_id}."
    return redirect(f"/runs/{child.id}", message)


@router.post("/runs/{run_id}/data-size-curve")
def create_data_size_curve(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    queue: QueueDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Queue the run's config at 10, 25, 50 and 100 % of the training data."""
    check_csrf(request, csrf_token)
    try:
        children = experiments.queue_data_size_curve(session=session, run_id=run_id, queue=queue)
    except (InvalidInput, Conflict) as exc:
        return redirect(f"/runs/{run_id}#data-size", exc.message, "error")
    ids = ", ".join(f"#{child.id}" for child in children)
    return redirect(
        f"/runs/{run_id}#data-size", f"Queued {len(children)} runs for the data-size curve: {ids}."
    )


@router.post("/runs/{run_id}/single-task-runs")
def create_single_task_runs(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    queue: QueueDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Queue the multi-task run's config once per task, each on that task alone."""
    check_csrf(request, csrf_token)
    try:
        children = multitask.queue_single_task_runs(session=session, run_id=run_id, queue=queue)
    except (InvalidInput, Conflict) as exc:
        return redirect(f"/runs/{run_id}#tasks", exc.message, "error")
    ids = ", ".join(f"#{child.id}" for child in children)
    return redirect(f"/runs/{run_id}#tasks", f"Queued {len(children)} single-task runs: {ids}.")


@router.post("/runs/{run_id}/repeat")
def repeat_run(
    request: Request, run_id: IdPath, session: SessionDep, queue: QueueDep, form: FormData
) -> Response:
    """Queue the run's config with new seeds, in its seed group (the same service as the API)."""
    check_csrf(request, form.get("csrf_token"))
    try:
        data = RunRepeat.model_validate({"seeds": form.get("seeds", "3")})
        repeated = groups.repeat_run(session=session, run_id=run_id, seeds=data.seeds, queue=queue)
    except ValidationError as exc:
        return redirect(f"/runs/{run_id}", f"seeds: {exc.errors()[0]['msg']}", "error")
    except (InvalidInput, Conflict) as exc:
        return redirect(f"/runs/{run_id}", f"Could not repeat the run: {exc.message}", "error")
    group, children, sweep = repeated.group, repeated.runs, repeated.sweep
    if sweep is not None:
        message = (
            f"{sweep.trials} copies of run #{run_id} with new seeds wait in sweep {sweep.name!r}, in group "
            f"{group!r}: {AGENT_HINT}"
        )
        return redirect(f"/sweeps/{sweep.id}", message)
    ids = ", ".join(f"#{child.id}" for child in children)
    seeds = ", ".join(str(child.config["hparams"]["seed"]) for child in children)
    message = f"Queued {len(children)} runs with seeds {seeds} ({ids}) in group {group!r}."
    return redirect(f"/runs/{run_id}", message)


@dataclass(frozen=True)
class ComparedRun:
    run: RunRead
    color: str
    ladder: LadderView


@dataclass
class CompareContext:
    runs: list[ComparedRun]
    differing: list[ConfigRow]
    same: list[ConfigRow]
    page_data: dict[str, Any]


def _shares_a_group(groups: list[str | None]) -> bool:
    named = [group for group in groups if group]
    return len(named) != len(set(named))


@router.get("/compare")
def compare_runs(
    request: Request, session: SessionDep, runs: Annotated[list[Text] | None, Query()] = None
) -> Response:
    """Two to ten runs side by side: config differences first, error ladders, overlaid learning curves."""
    run_ids = comparisons.parse_run_ids(runs or [])
    comparison = comparisons.compare_runs(session=session, run_ids=run_ids)
    compared = [
        ComparedRun(run, RUN_COLORS[i % len(RUN_COLORS)], ladder_view(diagnosis))
        for i, (run, diagnosis) in enumerate(zip(comparison.runs, comparison.diagnoses, strict=True))
    ]
    page_data = {
        "runs": [
            {
                "id": c.run.id,
                "name": c.run.name,
                "color": c.color,
                "metrics_url": f"/api/v1/runs/{c.run.id}/metrics/",
                "group": c.run.group,
            }
            for c in compared
        ],
        # The key picker offers every key any of the runs logged (one summary value per logged key).
        "metric_keys": sorted({key for c in compared for key in c.run.summary}),
        # Whether two of the runs share a seed group, which the chart can then draw as a mean and a band.
        "groups_shared": _shares_a_group([c.run.group for c in compared]),
        **chart_keys(),
        "series_url": "/api/v1/metrics",  # ?run_ids=...&keys=...: every run's curves in one request
    }
    context = CompareContext(compared, comparison.differing, comparison.same, page_data)
    return render(request, "runs/compare.html", context)
