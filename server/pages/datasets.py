"""Dataset pages: the catalog with the upload form; uploads go through the same service as the API."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from server.api.deps import IdPath
from server.auth import Principal
from server.body_guard import body_limit
from server.db import SessionDep
from server.errors import Conflict, InvalidInput, NotFound
from server.pages.common import FormErrors, PageAuth, PagePrincipal, PageRoute, check_csrf, redirect, render
from server.schemas import DatasetRead, UploadedDatasetRead
from server.services import datasets
from server.services.dataset_uploads import receive_upload, upload_form

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])
FIELDS = ("file", "name", "label_column", "image_size", "kind", "description")


@dataclass
class DatasetsContext:
    builtin: list[DatasetRead]
    uploaded: list[UploadedDatasetRead]
    max_upload_mb: float
    form: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = field(default_factory=FormErrors)


def _context(
    session: SessionDep,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> DatasetsContext:
    owner_id = None if principal.sees_everything else principal.user_id
    catalog = datasets.catalog(session=session, owner_id=owner_id)
    page = datasets.list_datasets(session=session, limit=1000, offset=0, owner_id=owner_id)
    return DatasetsContext(
        builtin=[d for d in catalog if d.source == "builtin"],
        uploaded=page.items,
        max_upload_mb=datasets.limits().max_bytes / datasets.MIB,
        form={} if form is None else form,
        errors=FormErrors() if errors is None else errors,
    )


@router.get("/datasets")
def read_datasets_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Built-in and uploaded datasets (with auth on, the ones you uploaded), and the upload form."""
    return render(request, "datasets/list.html", _context(session, principal))


def _errors_of(exc: Exception) -> FormErrors:
    errors = FormErrors()
    if isinstance(exc, RequestValidationError):
        for error in exc.errors():
            name = str(error["loc"][-1])
            errors.add(name if name in FIELDS else "file", f"{name}: {error['msg']}")
    elif isinstance(exc, datasets.DatasetRefused | InvalidInput):
        name = str(exc.loc[-1])
        errors.add(name if name in FIELDS else "file", f"{name}: {exc.message}")
    else:
        errors.add("name" if isinstance(exc, Conflict) else "file", str(exc))
    return errors


@router.post("/datasets")
@body_limit(None)  # streamed to disk against TRAINBOARD_MAX_UPLOAD_MB
async def upload_dataset_page(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Upload from the form: validated completely before storing; errors come back next to the fields."""
    try:
        fields, received = await receive_upload(request)
    except (InvalidInput, datasets.UploadTooLarge) as exc:
        context = _context(session, principal, errors=_errors_of(exc))
        return render(request, "datasets/list.html", context, 422)
    try:
        check_csrf(request, fields.get("csrf_token"))
        fields.pop("csrf_token", None)
        try:
            data = upload_form(fields)
            dataset = await run_in_threadpool(
                lambda: datasets.create_dataset(
                    session=session, data=data, upload=received, owner_id=principal.user_id
                )
            )
        except (RequestValidationError, datasets.DatasetRefused, InvalidInput, Conflict) as exc:
            context = _context(session, principal, form=fields, errors=_errors_of(exc))
            return render(request, "datasets/list.html", context, 422)
    finally:
        received.path.unlink(missing_ok=True)
    message = f"Dataset {dataset.name!r} stored: {dataset.n_examples} examples, {dataset.n_classes} classes."
    return redirect("/datasets", message)


@router.post("/datasets/{dataset_id}/delete")
async def delete_dataset_page(dataset_id: IdPath, request: Request, session: SessionDep) -> Response:
    """Delete an uploaded dataset that no project uses."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    try:
        datasets.delete_dataset(session=session, dataset_id=dataset_id)
    except (Conflict, NotFound) as exc:
        return redirect("/datasets", exc.message, "error")
    return redirect("/datasets", f"Dataset {dataset_id} deleted.")
