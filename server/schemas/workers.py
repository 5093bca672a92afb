"""Workers: what each worker process announces (slots, runs it trains, device), and the live ones."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server.schemas.common import Text, UTCDatetime


class WorkerHeartbeat(BaseModel):
    """A worker process says it is alive, every few seconds (worker.announce.WORKER_HEARTBEAT_INTERVAL_S)."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200, description='The worker process, "host:pid".')
    hostname: Text = Field(min_length=1, max_length=200)
    concurrency: int = Field(ge=1, le=1024, description="Runs it trains at once (--concurrency).")
    active_runs: int = Field(ge=0, le=1024, description="Runs (and gradient checks) it trains now.")
    device: Text = Field(default="cpu", max_length=100, description='"cpu", "cuda", "mps", ...')


class WorkerRead(WorkerHeartbeat):
    model_config = ConfigDict(from_attributes=True)

    started_at: UTCDatetime
    last_seen_at: UTCDatetime


class WorkerSlots(BaseModel):
    """Slots of the live workers: one per run a worker can train at once."""

    model_config = ConfigDict(frozen=True)

    workers: int
    total: int
    busy: int
    free: int


class WorkersRead(BaseModel):
    """The workers seen within the worker timeout, and their slots."""

    data: list[WorkerRead]
    count: int
    slots: WorkerSlots
