"""The client library: users' scripts and the worker report to the server through it (one ingestion path).

What lives where: `_http` the HTTP `Client` of /api/v1 (retries, idempotency keys); `_base` what every run
shares (steps, value checks, `config`, `summary`); `_run` the online `Run`, buffered and sent from a
background thread; `_offline` runs kept on disk for `trainboard sync`; `_disabled` runs that do nothing;
`_session` `init` and the module-level `log` and `finish`; `environment` what a run trains with. A queued
run's config is `RunConfig` (models/config.py, the schema the server validates with).
"""

from __future__ import annotations

from models.config import Hparams, RunConfig, RunConfigError
from trainboard._base import BaseRun
from trainboard._disabled import DisabledRun
from trainboard._http import (
    FINISHED,
    METRICS_BATCH,
    METRICS_REQUEST_MAX,
    METRICS_REQUESTS_IN_FLIGHT,
    PREDICTIONS_BATCH,
    SPLITS,
    Client,
    TrainboardError,
)
from trainboard._offline import OfflineRun
from trainboard._run import HEARTBEAT_INTERVAL_S, Run
from trainboard._session import attach_to_agent_trial, finish, init, log

__all__ = [
    "FINISHED",
    "HEARTBEAT_INTERVAL_S",
    "METRICS_BATCH",
    "METRICS_REQUEST_MAX",
    "METRICS_REQUESTS_IN_FLIGHT",
    "PREDICTIONS_BATCH",
    "SPLITS",
    "BaseRun",
    "Client",
    "DisabledRun",
    "Hparams",
    "OfflineRun",
    "Run",
    "RunConfig",
    "RunConfigError",
    "TrainboardError",
    "attach_to_agent_trial",
    "finish",
    "init",
    "log",
]
