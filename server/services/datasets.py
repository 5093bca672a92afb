"""Uploaded and registered datasets: validate before storing, keep one normalised .npz per dataset."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.datasets import BUILTIN_DATASETS, uploaded_info
from server.errors import Conflict, DomainError, InvalidInput, NotFound
from server.schemas import DatasetRead, DatasetRegister, DatasetUpload, UploadedDatasetsPage
from server.schemas import UploadedDatasetRead as UploadedRead
from server.tables import Dataset, Project
from server.uploads import FOLDER_FORMATS, DatasetFileError, Limits, ParsedDataset, parse_upload, write_npz
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)
MIB = 1024 * 1024
#: Room for the multipart boundaries and the small form fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(DomainError):
    status_code = 413


class DatasetRefused(DomainError):
    """A DatasetFileError as a response: 422 (or 413 for a size limit) naming the field."""

    def __init__(self, error: DatasetFileError, *, prefix: str = "body") -> None:
        super().__init__(error.message)
        self.status_code = error.status_code
        self.loc = [prefix, error.field]

    def detail(self) -> object:
        return [{"loc": self.loc, "msg": self.message, "type": "value_error"}]


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file spooled to disk (and deleted by the service once stored or refused)."""

    path: Path
    filename: str
    size: int


def limits() -> Limits:
    settings = get_settings()
    return Limits(
        max_bytes=int(settings.max_upload_mb * MIB),
        max_uncompressed_bytes=int(settings.max_uncompressed_mb * MIB),
        max_files=settings.max_dataset_files,
        max_decoded_bytes=int(settings.max_decoded_mb * MIB),
    )


def datasets_dir() -> Path:
    return get_settings().resolved_home / "datasets"


def dataset_path(dataset_id: int) -> Path:
    # An int id: the path cannot leave the folder.
    return datasets_dir() / f"dataset-{int(dataset_id)}.npz"


async def limited(chunks: AsyncIterator[bytes], max_bytes: int) -> AsyncGenerator[bytes, None]:
    """Pass the request body through, stopping with 413 as soon as it exceeds `max_bytes`."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLarge(f"The upload is larger than the {max_bytes // MIB} MiB limit")
        yield chunk


def get_dataset(*, session: Session, dataset_id: int) -> Dataset:
    """The dataset or NotFound."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound("Dataset", dataset_id)
    return dataset


def _check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise _name_taken(name)


def _name_taken(name: object) -> Conflict:
    return Conflict(f"A dataset named {name!r} already exists")


def _store(session: Session, parsed: ParsedDataset, **fields: object) -> Dataset:
    """Write the normalised file under a temporary name, record the row, then move the file into place."""
    folder = datasets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".npz.part")
    os.close(handle)
    partial = Path(temporary)
    try:
        checksum = write_npz(parsed, partial)
        dataset = Dataset(
            kind=parsed.kind,
            input_shape=list(parsed.input_shape),
            n_classes=len(parsed.classes),
            n_examples=len(parsed.y),
            classes=parsed.classes,
            tasks=list(parsed.tasks) or None,
            has_splits=parsed.split is not None,
            size_bytes=partial.stat().st_size,
            sha256=checksum,
            **fields,
        )
        session.add(dataset)
        try:
            session.flush()
        except IntegrityError:  # only the name is unique: an upload alongside this one took it first
            raise _name_taken(fields["name"]) from None
        os.replace(partial, dataset_path(dataset.id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        partial.unlink(missing_ok=True)
    logger.info("stored dataset %d %r: %d examples", dataset.id, dataset.name, dataset.n_examples)
    return dataset


def create_dataset(
    *, session: Session, data: DatasetUpload, upload: ReceivedFile, owner_id: int | None = None
) -> Dataset:
    """Validate the uploaded file completely, then store it normalised with its checksum."""
    _check_name_free(session, data.name)
    size = None
    if data.image_size:
        width, height = (int(v) for v in data.image_size.split("x"))
        if not (1 <= width <= 1024 and 1 <= height <= 1024):
            raise InvalidInput(["body", "image_size"], "width and height must be between 1 and 1024")
        size = (width, height)
    try:
        source, parsed = parse_upload(
            upload.path, limits=limits(), label_column=data.label_column, image_size=size, kind=data.kind
        )
    except DatasetFileError as exc:
        raise DatasetRefused(exc) from None
    return _store(
        session,
        parsed,
        name=data.name,
        source=source,
        filename=upload.filename[:300],
        description=data.description,
        owner_id=owner_id,
    )


class FolderNotAllowed(InvalidInput):
    """A folder outside TRAINBOARD_DATASET_ROOTS: 403, with the 422 body shape that names the field."""

    status_code = 403


#: Deepest file the folder readers open: <root>/MNIST/raw/<file>.
REGISTER_SCAN_DEPTH = 3
ROOTS_SETTING = "TRAINBOARD_DATASET_ROOTS"


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _link_stays_inside(link: Path, roots: list[Path]) -> bool:
    try:
        return _inside(link.resolve(), roots)
    except (OSError, RuntimeError):  # a loop leads nowhere readable
        return False


def _allowed_folder(path: str) -> Path:
    """The folder, symlinks and '..' resolved, when it lies inside an allowed root; else FolderNotAllowed.

    The check comes before any look at the disk, so a refused path tells nothing about what exists there.
    """
    roots = get_settings().resolved_dataset_roots
    if not roots:
        raise FolderNotAllowed(
            ["body", "path"], f"folder registration is off; set {ROOTS_SETTING} to allow it"
        )
    try:
        given = Path(path).expanduser()
    except RuntimeError:  # "~name" of a user this server does not have
        raise InvalidInput(["body", "path"], f"{path} names no home folder on the server") from None
    if not given.is_absolute():
        raise InvalidInput(["body", "path"], "must be an absolute path on the server")
    try:
        root = given.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        raise InvalidInput(["body", "path"], f"not a usable path: {exc}") from None
    if not _inside(root, roots):
        allowed = ", ".join(str(r) for r in roots)
        raise FolderNotAllowed(
            ["body", "path"],
            f"{path} is outside the folders registration may read ({allowed}); "
            f"add its folder to {ROOTS_SETTING}",
        )
    return root


def _check_links_stay_inside(root: Path) -> None:
    """Refuse a folder holding a symlink (to a file or a folder) that leads outside the allowed roots."""
    roots = get_settings().resolved_dataset_roots
    base_depth = len(root.parts)
    # Follow links (to depth 3 only, so a loop ends): a linked folder inside may hold links that leave.
    for folder, subfolders, files in os.walk(root, followlinks=True):
        here = Path(folder)
        for name in [*subfolders, *files]:
            entry = here / name
            if entry.is_symlink() and not _link_stays_inside(entry, roots):
                raise FolderNotAllowed(
                    ["body", "path"],
                    f"{entry.relative_to(root)} links outside the folders registration may read; "
                    f"see {ROOTS_SETTING}",
                )
        if len(here.parts) - base_depth >= REGISTER_SCAN_DEPTH - 1:
            subfolders.clear()  # the readers look no deeper


def register_folder(*, session: Session, data: DatasetRegister) -> Dataset:
    """Convert a torchvision-format MNIST or CIFAR-10 folder under an allowed root into a dataset."""
    root = _allowed_folder(data.path)
    if not root.is_dir():
        raise InvalidInput(["body", "path"], f"{root} is not a folder on the server")
    _check_links_stay_inside(root)
    name = data.name or f"{data.format}-{root.name}"
    _check_name_free(session, name)
    try:
        parsed = FOLDER_FORMATS[data.format](root)
    except DatasetFileError as exc:
        raise DatasetRefused(exc) from None
    return _store(session, parsed, name=name, source=data.format, filename=str(root)[:300], description="")


def _owned(query: Select[Dataset], owner_id: int | None) -> Select[Dataset]:
    return query if owner_id is None else query.where(Dataset.owner_id == owner_id)


def list_datasets(
    *, session: Session, limit: int, offset: int, owner_id: int | None = None
) -> UploadedDatasetsPage:
    """Uploaded datasets, newest first; with `owner_id`, only that user's."""
    query = _owned(select(Dataset), owner_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Dataset.id.desc()).limit(limit).offset(offset))
    items = [UploadedRead.model_validate(row) for row in rows]
    return UploadedDatasetsPage(total=total, limit=limit, offset=offset, items=items)


def catalog(*, session: Session, owner_id: int | None = None) -> list[DatasetRead]:
    """Every dataset a project can use: the built-ins, then the uploaded ones (id as a string); with
    `owner_id`, only that user's uploads."""
    entries = [DatasetRead(**info.to_dict(), id=info.name) for info in BUILTIN_DATASETS.values()]
    for row in session.scalars(_owned(select(Dataset), owner_id).order_by(Dataset.id)):
        info = uploaded_info(session=session, ref=str(row.id))
        assert info is not None
        entries.append(DatasetRead(**{**info.to_dict(), "name": row.name}, id=str(row.id), source=row.source))
    return entries


def delete_dataset(*, session: Session, dataset_id: int) -> None:
    """Delete a dataset no project uses, with its file."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    user = session.scalar(select(Project.name).where(Project.dataset == str(dataset.id)).limit(1))
    if user is not None:
        raise Conflict(f"Dataset {dataset.id} is used by project {user!r}; delete the project first")
    session.delete(dataset)
    session.commit()
    dataset_path(dataset_id).unlink(missing_ok=True)


def find_file(*, session: Session, dataset_id: int) -> tuple[Dataset, Path]:
    """The dataset and its stored .npz (for workers)."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    path = dataset_path(dataset_id)
    if not path.exists():
        raise NotFound("File of dataset", dataset_id)
    return dataset, path
