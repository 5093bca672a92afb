"""Datasets: the catalog, uploads (.npz, .csv, zip of images), registered folders, files for workers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from server.api.deps import IdPath, Limit, Offset
from server.auth import AdminAuth, ApiAuth, Principal
from server.body_guard import body_limit
from server.db import SessionDep
from server.schemas import (
    DatasetRead,
    DatasetRegister,
    DatasetUpload,
    UploadedDatasetRead,
    UploadedDatasetsPage,
)
from server.services import datasets
from server.services.dataset_uploads import receive_upload, upload_form

router = APIRouter(prefix="/datasets", tags=["datasets"])
DatasetId = IdPath
UPLOAD_DOC = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **DatasetUpload.model_json_schema()["properties"],
                    },
                }
            }
        },
        "required": True,
    }
}


def _only_own(principal: Principal) -> int | None:
    """Whose uploads a list shows: all of them, or (a user who is not an admin) only their own."""
    return None if principal.sees_everything else principal.user_id


@router.get("")
def read_datasets(session: SessionDep, principal: ApiAuth) -> list[DatasetRead]:
    """Every dataset a project can use: built-ins by name, uploaded ones by id (the `id` field)."""
    return datasets.catalog(session=session, owner_id=_only_own(principal))


@router.post("", status_code=201, openapi_extra=UPLOAD_DOC)
@body_limit(None)  # streamed to disk against TRAINBOARD_MAX_UPLOAD_MB
async def create_dataset(request: Request, session: SessionDep, principal: ApiAuth) -> UploadedDatasetRead:
    """Upload an .npz, a .csv or a zip of class folders; it is validated completely before it is stored."""
    fields, received = await receive_upload(request)
    try:
        data = upload_form(fields)
        dataset = await run_in_threadpool(
            lambda: datasets.create_dataset(
                session=session, data=data, upload=received, owner_id=principal.user_id
            )
        )
    finally:
        received.path.unlink(missing_ok=True)
    return UploadedDatasetRead.model_validate(dataset)


@router.post("/register", status_code=201)
def register_dataset(data: DatasetRegister, session: SessionDep, _: AdminAuth) -> UploadedDatasetRead:
    """Convert a torchvision-format MNIST or CIFAR-10 folder on the server's disk into a dataset (admins:
    it reads the server's disk)."""
    return UploadedDatasetRead.model_validate(datasets.register_folder(session=session, data=data))


@router.get("/uploaded")
def read_uploaded_datasets(
    session: SessionDep, principal: ApiAuth, limit: Limit = 50, offset: Offset = 0
) -> UploadedDatasetsPage:
    """Uploaded and registered datasets, newest first (with auth on, those you uploaded)."""
    return datasets.list_datasets(session=session, limit=limit, offset=offset, owner_id=_only_own(principal))


@router.get("/{dataset_id}")
def read_dataset(dataset_id: DatasetId, session: SessionDep, _: ApiAuth) -> UploadedDatasetRead:
    return UploadedDatasetRead.model_validate(datasets.get_dataset(session=session, dataset_id=dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: DatasetId, session: SessionDep, _: ApiAuth) -> Response:
    """Delete a dataset that no project uses."""
    datasets.delete_dataset(session=session, dataset_id=dataset_id)
    return Response(status_code=204)


@router.get("/{dataset_id}/file", response_class=FileResponse)
def read_dataset_file(dataset_id: DatasetId, session: SessionDep, _: ApiAuth) -> FileResponse:
    """The normalised .npz, for workers; the X-Checksum-Sha256 header carries its checksum."""
    dataset, path = datasets.find_file(session=session, dataset_id=dataset_id)
    return FileResponse(
        path, media_type="application/octet-stream", headers={"X-Checksum-Sha256": dataset.sha256}
    )
