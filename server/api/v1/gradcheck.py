"""Numerical gradient checks of a model config, run by a worker on a tiny batch in float64."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from server import access
from server.api.deps import QueueDep, json_body, json_body_doc, list_cap
from server.auth import ApiAuth
from server.body_guard import BATCH_BODY_BYTES, body_limit
from server.db import SessionDep
from server.schemas import GradcheckCreate, GradcheckRead, GradcheckResult, Text
from server.services import gradcheck

router = APIRouter(prefix="/gradcheck", tags=["gradcheck"])
# JSON values a result may hold, counted before it is parsed: a parameter has 3 fields.
RESULT_BODY = json_body(GradcheckResult, max_values=8 * list_cap(GradcheckResult, "parameters"))


@router.post("", status_code=202)
def create_gradcheck(
    data: GradcheckCreate, session: SessionDep, queue: QueueDep, principal: ApiAuth
) -> GradcheckRead:
    """Queue a gradient check; poll GET /gradcheck/{id} until its status is done or failed."""
    if data.project_id is not None:
        access.check_body_project(session, principal, data.project_id, access.EDITOR)
    if data.dataset is not None:
        access.check_dataset_ref(session, principal, data.dataset)
    return gradcheck.create_gradcheck(session=session, data=data, queue=queue, owner_id=principal.user_id)


@router.get("/{check_id}")
def read_gradcheck(check_id: Text, session: SessionDep, _: ApiAuth) -> GradcheckRead:
    """The check: per parameter tensor, the relative difference and what it means."""
    return gradcheck.get_gradcheck(session=session, check_id=check_id)


@router.put("/{check_id}/result", openapi_extra=json_body_doc(GradcheckResult))
@body_limit(BATCH_BODY_BYTES)
def record_gradcheck_result(
    check_id: Text, data: Annotated[GradcheckResult, Depends(RESULT_BODY)], session: SessionDep, _: ApiAuth
) -> GradcheckRead:
    """The worker posts the relative differences (or why it could not run the check)."""
    return gradcheck.record_result(session=session, check_id=check_id, data=data)
