"""Receiving a dataset upload: the multipart body streamed to disk against the size limit, its fields as the
schema. The API and the upload page both call these, then `datasets.create_dataset`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from server.errors import InvalidInput
from server.schemas import DatasetUpload
from server.services.datasets import FORM_OVERHEAD_BYTES, MIB, ReceivedFile, UploadTooLarge, limited, limits


async def receive_upload(request: Request) -> tuple[dict[str, str], ReceivedFile]:
    """Parse a multipart upload, refusing it (413) as soon as the body passes the size limit.

    Returns the text fields and the file spooled to a temporary path the caller must delete.
    """
    max_bytes = limits().max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD_BYTES:
        raise UploadTooLarge(f"The upload is larger than the {max_bytes // MIB} MiB limit")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(["body", "file"], "send the dataset as multipart/form-data with a 'file' field")
    stream = limited(request.stream(), max_bytes + FORM_OVERHEAD_BYTES)
    try:
        form = await MultiPartParser(request.headers, stream, max_files=1, max_fields=20).parse()
    except MultiPartException as exc:
        raise InvalidInput(["body", "file"], f"malformed multipart body: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput(["body", "file"], "no file was sent in the 'file' field")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".part")
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"The upload is larger than the {max_bytes // MIB} MiB limit")
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    finally:
        await form.close()
    if size == 0:
        Path(name).unlink(missing_ok=True)
        raise InvalidInput(["body", "file"], "the file is empty")
    return fields, ReceivedFile(Path(name), upload.filename or "", size)


def upload_form(fields: dict[str, str]) -> DatasetUpload:
    """The upload's form fields as the schema (blank inputs count as not given)."""
    try:
        return DatasetUpload.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
