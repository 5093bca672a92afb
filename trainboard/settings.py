"""One settings object, read from TRAINBOARD_* environment variables."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: How the client library's runs report: to the server, to the spool folder for `trainboard sync`, or nowhere.
Mode = Literal["online", "offline", "disabled"]
MODES: tuple[str, ...] = get_args(Mode)


class Settings(BaseSettings):
    """Every knob of Trainboard; each field's description is its documentation (README's settings table)."""

    model_config = SettingsConfigDict(env_prefix="TRAINBOARD_", extra="ignore")

    home: Path = Field(
        default=Path(".trainboard"),
        description="Data folder: the SQLite database, the embedded broker, uploads and checkpoints.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database. Default: SQLite in the data folder. "
        "Production: postgresql+psycopg://user@host/db.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker URL. Default: kombu's SQLAlchemy transport over a SQLite file in the data "
        "folder (needs no server). Production: redis://host:6379/0.",
    )
    server_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where workers and the client library reach the server.",
    )
    api_token: str | None = Field(
        default=None,
        description="A service token: setting it turns auth on, and it then works as a worker token "
        "(every /api/v1 call but /health needs 'Authorization: Bearer <token>'). Workers and clients send "
        "it (a client sends its user's token).",
    )
    auth: bool = Field(
        default=False,
        description="Turn on accounts: users log in with a password, scripts and workers send per-user or "
        "worker API tokens, and each project has owners, editors and viewers. On whenever api_token is set; "
        "serving beyond loopback needs it.",
    )
    admin_password: str | None = Field(
        default=None,
        description="Password of the first account, 'admin', created at the first start with auth on. "
        "Default: a random one, printed once to the console.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="With auth on, the bearer token a Prometheus scraper sends to read GET /metrics "
        "(worker tokens and administrators may read it too). With auth off /metrics is open.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs session and CSRF cookies. Default: a random key kept in the data folder.",
    )
    heartbeat_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="A running run whose worker has not reported for this long is re-queued or failed.",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="How many times a run whose worker vanished is queued again before it is marked failed.",
    )
    reaper_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the server looks for runs whose worker stopped reporting.",
    )
    access_log: bool = Field(
        default=False,
        description="`trainboard serve` logs one line per request (uvicorn's access log). Off by default: "
        "formatting and writing it costs CPU on every request.",
    )
    external_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="An external run (a user's script) whose client sent nothing, not even its heartbeat "
        "every 30 s, for this long is marked failed: the script was killed or lost the server.",
    )
    requeue_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A run queued this long whose message the broker no longer holds (Redis restarted "
        "without persistence, a worker died before claiming it) is sent again.",
    )
    worker_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A worker that has not announced itself for this long (it does every 10 s) no longer "
        "counts toward the free worker slots the sweep, project and new-run pages show.",
    )
    worker_concurrency: int = Field(
        default=1,
        ge=1,
        description="Training processes per worker (one per GPU is usual).",
    )
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="PyTorch threads per training process. Default: the CPU cores less one (left to the "
        "server and the OS), shared between the worker's processes; small models train fastest on one.",
    )
    checkpoint_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="Workers checkpoint after every epoch, but epochs shorter than this share one "
        "checkpoint per interval (0: every epoch). A killed worker loses at most one epoch or this long.",
    )
    system_metrics_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="Workers sample CPU, memory and NVIDIA GPUs (with trainboard[gpu]) into system/* metrics "
        "of the run they train every this many seconds (0: not at all).",
    )
    device: str = Field(
        default="auto",
        description="Where workers train: auto (CUDA when present, else CPU), cpu, cuda or cuda:N. The "
        "server reads it too: with cpu, fp16 runs are refused at submit.",
    )

    max_upload_mb: float = Field(
        default=200.0,
        gt=0,
        description="Largest dataset upload accepted, in MiB; the server stops reading a larger body.",
    )
    max_artifact_mb: float = Field(
        default=2048.0,
        gt=0,
        description="Largest file a run may store as an artifact (PUT /api/v1/runs/{id}/artifacts/{path}, "
        "or MLflow's log_artifact), in MiB; the server stops reading a larger body.",
    )
    max_uncompressed_mb: float = Field(
        default=2048.0,
        gt=0,
        description="Largest total size, in MiB, the files inside an uploaded zip or .npz may expand to "
        "(refuses zip bombs before decompressing).",
    )
    max_decoded_mb: float = Field(
        default=512.0,
        gt=0,
        description="Largest size, in MiB, an uploaded dataset's arrays may take once decoded (features as "
        "float32, images as a byte per pixel and channel), counted from the .npz and image headers and a "
        "CSV's rows x columns before anything is decoded: about the most memory one upload costs the server.",
    )
    max_dataset_files: int = Field(
        default=100_000,
        ge=1,
        description="Most files an uploaded zip of images may hold.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where workers cache downloaded datasets. Default: worker-cache/ in the data folder.",
    )
    project: str | None = Field(
        default=None,
        description="The project trainboard.init() logs to when the script names none.",
    )
    mode: Mode = Field(
        default="online",
        description="How trainboard.init() runs report when the script says nothing: online (to the "
        "server), offline (kept in spool/ in the data folder until `trainboard sync`) or disabled "
        "(nothing sent or written: for unit tests and CI).",
    )
    max_buffered_points: int = Field(
        default=100_000,
        ge=1,
        description="Metric points the client library keeps in memory while the server is away; past that "
        "it spools them to spool/ in the data folder and sends them, in order, once the server is back.",
    )
    finish_timeout_s: float = Field(
        default=300.0,
        ge=0,
        description="How long the client library's run.finish() (and exit) waits for a server that is away "
        "to take the remaining metric points; unsent points stay in spool/.",
    )
    run_id: int | None = Field(
        default=None,
        ge=1,
        description="Set by `trainboard agent` for the command it runs: trainboard.init() then attaches to "
        "this run (the sweep trial the agent took) instead of creating one, and run.config holds the trial's "
        "sampled values.",
    )
    dataset_roots: Annotated[list[Path] | None, NoDecode] = Field(
        default=None,
        description="Folders on the server that POST /api/v1/datasets/register may read, as a JSON list or "
        "separated by ':'; a path outside them (after resolving symlinks and '..') is refused. Default: "
        "datasets-import/ in the data folder only, so registration works out of the box for files an admin "
        "puts there, yet no other file the server can read can be turned into a downloadable dataset. "
        "Set it to an empty string to turn registration off.",
    )

    @field_validator("server_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"server_url must start with http:// or https://, but got {value!r}")
        return value.rstrip("/")

    @property
    def auth_enabled(self) -> bool:
        return self.auth or bool(self.api_token)

    @field_validator("dataset_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        # From the environment it is one string: a JSON list, or folders separated like PATH.
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.split(os.pathsep) if part.strip()]

    @field_validator("dataset_roots")
    @classmethod
    def _absolute_roots(cls, value: list[Path] | None) -> list[Path] | None:
        relative = [str(root) for root in value or [] if not root.expanduser().is_absolute()]
        if relative:
            raise ValueError(f"dataset_roots must be absolute folders, but got {relative}")
        return value

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or self.resolved_home / "worker-cache").expanduser().resolve()

    @property
    def resolved_dataset_roots(self) -> list[Path]:
        """The folders registration may read, symlinks resolved; empty when registration is off."""
        roots = [self.resolved_home / "datasets-import"] if self.dataset_roots is None else self.dataset_roots
        return [root.expanduser().resolve() for root in roots]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'trainboard.db'}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.resolved_home / 'broker.db'}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
