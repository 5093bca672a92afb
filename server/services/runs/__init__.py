"""Runs: their lifecycle, their lists, and the row they are read as.

- ``lifecycle``: create (queued for a worker, or external), claim, progress, heartbeat, resume, finish and
  cancel; a sweep's trial that finishes or is cancelled makes its sweep queue the next.
- ``columns``: RunRead's fields and the column each is read from; every run query and the JSON writer
  are built from that one list.
- ``listing``: a page of runs as RunReads, or straight to the RunsPage's JSON (the API's fast path).
- ``pages``: which runs make up a page, by offset or keyset cursor, sorted by a field, a summary metric
  or a bias/variance gap (``gap_order``, the SQL twin of the diagnosis's ``compute_gaps``).
- ``metadata``: what a person says about a run afterwards (name, notes, tags), archive and restore.
- ``filtering``: a filter expression (``server.run_filter``) as a WHERE clause, on both databases.
- ``interruptions``: whether a worker's run was cut off (handed back, or re-queued by the reaper) and the
  epoch it resumes from, for the run page.
- ``attempts``: one row per claim by a worker, closed by the hand-back, the reaper, finish or cancel: the
  run page's attempt history and GET /api/v1/runs/{id}/attempts.

Beside the package, ``server.services.run_setup`` resolves a run's config and queues it: sweeps builds its
trials with it, and this package's finish and cancel advance sweeps, so it sits below both.
"""

# Also here under their old names: what a run needs before a worker takes it (shared with sweeps).
from server.services.run_setup import dataset_version, enqueue_run, resolve_config
from server.services.runs.columns import RUN_READ_FIELDS, to_read
from server.services.runs.lifecycle import (
    cancel_run,
    create_run,
    finish_run,
    get_run,
    heartbeat,
    queue_recorded,
    report_progress,
    resume_run,
    start_run,
)
from server.services.runs.listing import Visible, list_runs, list_runs_json, read_runs, run_filters
from server.services.runs.metadata import archive_run, bulk_update, restore_run, update_run
from server.tables import utcnow as now

__all__ = [
    "RUN_READ_FIELDS",
    "Visible",
    "archive_run",
    "bulk_update",
    "cancel_run",
    "create_run",
    "dataset_version",
    "enqueue_run",
    "finish_run",
    "get_run",
    "heartbeat",
    "list_runs",
    "list_runs_json",
    "now",
    "queue_recorded",
    "read_runs",
    "report_progress",
    "resolve_config",
    "restore_run",
    "run_filters",
    "resume_run",
    "start_run",
    "to_read",
    "update_run",
]
