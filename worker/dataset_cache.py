"""Uploaded datasets on the worker: fetched through the API, checked against their sha256, cached by it."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from trainboard.client import Client
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)


class ChecksumMismatch(ValueError):
    """The downloaded file is not the one the server recorded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_uploaded(dataset: str) -> bool:
    """Uploaded datasets are named by their numeric id; built-ins by a name."""
    return dataset.isdigit()


def fetch_dataset(client: Client, dataset_id: int, *, cache_dir: Path | None = None) -> Path:
    """The dataset's .npz in the cache (named by checksum, so a changed dataset is fetched again)."""
    meta = client.get_dataset(dataset_id)
    expected = str(meta["sha256"])
    folder = (cache_dir or get_settings().resolved_cache_dir) / "datasets"
    path = folder / f"{expected}.npz"
    if path.exists():
        if sha256_of(path) == expected:
            return path
        logger.warning("cached %s is damaged; fetching it again", path.name)
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(handle)
    partial = Path(temporary)
    try:
        client.download_dataset(dataset_id, partial)
        actual = sha256_of(partial)
        if actual != expected:
            raise ChecksumMismatch(
                f"dataset {dataset_id} arrived with sha256 {actual[:12]}…, expected {expected[:12]}…"
            )
        os.replace(partial, path)  # atomic: concurrent workers never read half a file
    finally:
        partial.unlink(missing_ok=True)
    logger.info("cached dataset %d as %s", dataset_id, path)
    return path


__all__ = ["ChecksumMismatch", "fetch_dataset", "is_uploaded"]
