"""Metric points: in (batched, idempotent), kept summarised on write, and out (shape-keeping downsampling).

- ``ingest``: a batch's checks (the run, metric aliases, canonical values, non-finite points) and the
  choice of writer for the session's database; a sweep trial's early stopping.
- ``postgres_writer``: the batch, the run's summaries and rollups in one PostgreSQL statement.
- ``sqlite_writer``: the same on SQLite, in multi-row INSERTs and upserts.
- ``rollups``: the per-bucket minima and maxima (and summaries) computed from a batch, their widths and
  the conflict rules both writers merge them into stored rows with.
- ``series``: many series (of one run or several) read at one flat cost: raw points only up to max_points,
  else the finest rollup width that fits; the batch and cross-run reads and their request bounds.
- ``reads``: one series in step order (through ``series``); a run's metric keys.
"""

from server.schemas.metrics import PointRow
from server.services.metrics.ingest import (
    Stored,
    first_per_step,
    ingest_metrics,
    store_metric_rows,
    store_metrics,
)
from server.services.metrics.reads import metric_keys, read_series
from server.services.metrics.rollups import ROLLUP_WIDTHS
from server.services.metrics.sqlite_writer import SQLITE_ROWS

__all__ = [
    "ROLLUP_WIDTHS",
    "SQLITE_ROWS",
    "PointRow",
    "Stored",
    "first_per_step",
    "ingest_metrics",
    "metric_keys",
    "read_series",
    "store_metric_rows",
    "store_metrics",
]
