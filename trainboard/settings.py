"""One settings object, read from TRAINBOARD_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        description="When set, every /api/v1 call but /health needs 'Authorization: Bearer <token>', "
        "and pages need a login with that token. Workers and clients send it.",
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
    device: str = Field(
        default="auto",
        description="Where workers train: auto (CUDA when present, else CPU), cpu, cuda or cuda:N.",
    )

    max_upload_mb: float = Field(
        default=200.0,
        gt=0,
        description="Largest dataset upload accepted, in MiB; the server stops reading a larger body.",
    )
    max_uncompressed_mb: float = Field(
        default=2048.0,
        gt=0,
        description="Largest total size, in MiB, the files inside an uploaded zip or .npz may expand to "
        "(refuses zip bombs before decompressing).",
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

    @field_validator("server_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"server_url must start with http:// or https://, but got {value!r}")
        return value.rstrip("/")

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or self.resolved_home / "worker-cache").expanduser().resolve()

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
