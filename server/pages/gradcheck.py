"""Gradient check from a run page: queue it on a worker, then show the relative difference per tensor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from server.api.deps import IdPath, QueueDep
from server.db import SessionDep
from server.ids import MAX_ID
from server.pages.common import PageAuth, PagePrincipal, PageRoute, check_csrf, redirect, render
from server.schemas import GradcheckCreate, GradcheckRead, RunConfig, Text
from server.services import gradcheck, runs

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])


@dataclass
class GradcheckContext:
    check: GradcheckRead
    run_id: int | None


@router.post("/runs/{run_id}/gradcheck")
def check_run_gradients(
    request: Request,
    run_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    queue: QueueDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Queue a numerical gradient check of this run's model config (float64, a tiny batch)."""
    check_csrf(request, csrf_token)
    run = runs.get_run(session=session, run_id=run_id)
    config = RunConfig.model_validate({"model": run.config.get("model", {})})
    data = GradcheckCreate(project_id=run.project_id, config=config)
    check = gradcheck.create_gradcheck(session=session, data=data, queue=queue, owner_id=principal.user_id)
    return redirect(
        f"/gradchecks/{check.id}?run={run_id}", "Gradient check queued: a worker runs it.", "info"
    )


@router.get("/gradchecks/{check_id}")
def read_gradient_check(
    request: Request,
    check_id: Text,
    session: SessionDep,
    run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The check's result, or a page that refreshes itself until the worker has posted it."""
    check = gradcheck.get_gradcheck(session=session, check_id=check_id)
    return render(request, "gradcheck/detail.html", GradcheckContext(check, run))
