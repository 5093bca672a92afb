"""SQLAlchemy 2.0 tables. (Top-level models/ holds the PyTorch models, hence the name.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_idempotency_key", "idempotency_scope", "idempotency_key", unique=True),
        # Names are unique per owner (migration 0013), so a 409 never tells a user another's names.
        Index("uq_projects_owner_name", text("coalesce(owner_id, 0)"), "name", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Whose namespace the name lives in: the creator (None when made with auth off).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dataset: Mapped[str] = mapped_column(String(200))
    human_level_error: Mapped[float | None] = mapped_column(Float)
    optimizing_metric: Mapped[str] = mapped_column(String(100), default="dev_error")
    satisficing: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    # Alias -> canonical metric key, applied at ingestion; NULL (not {}) when there are none, so that a
    # batch's lookup finds nothing to do without decoding anything.
    metric_aliases: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped by "apply label corrections"; each run's config records the version it trained on.
    dataset_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The client's Idempotency-Key of the POST that created it, unique within the caller's scope
    # ("user:7", "worker", "anonymous"): a retried POST returns this project, another caller's does not.
    idempotency_scope: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    runs: Mapped[list[Run]] = relationship(back_populates="project", cascade="all, delete-orphan")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_created", "project_id", "id"),
        Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_runs_project_group", "project_id", "group"),
        Index("ix_runs_idempotency_key", "idempotency_scope", "idempotency_key", unique=True),
        Index("ix_runs_project_archived", "project_id", "archived_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    # A sweep trial stopped by ASHA or the median rule: status "cancelled", but it did not fail.
    stopped_early: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Runs that differ only by seed share a group, whose spread tells a real gap from seed noise.
    group: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    notes: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # What the run really trained with: device, torch/CUDA versions, host; for scripts also the git commit
    # and argv. Sent by the client at init or by the worker when it claims the run; NULL before 0015.
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # The last ~2 KB its command wrote to stderr, when `trainboard agent` saw it crash.
    log_tail: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # How often a worker's run was cut off (handed back on a stop, or re-queued by the reaper), and why the
    # last time: the run page says it resumed, after the next claim has cleared `error`.
    interruptions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_interruption: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The client's Idempotency-Key of the POST that created it, unique within the caller's scope:
    # a retried POST returns this run.
    idempotency_scope: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # When DELETE /runs/{id} archived it (soft delete): lists hide it unless asked; /restore clears it.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    project: Mapped[Project] = relationship(back_populates="runs")
    summaries: Mapped[list[RunSummary]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class RunCount(Base):
    """How many runs each project has in each status, kept by triggers on runs (migration 0010).

    A run list shows its total: counting 10,000 runs took longer than finding the page's 50, and grows
    with the project, where summing a few of these rows does not."""

    __tablename__ = "run_counts"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RunSummary(Base):
    """The latest value of each metric of a run, kept on write so that lists never scan the points."""

    __tablename__ = "run_summaries"
    __table_args__ = (Index("ix_run_summaries_key_value", "key", "value"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)


class MetricPoint(Base):
    __tablename__ = "metric_points"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricRollup(Base):
    """Minimum and maximum (with their steps) of one series within one bucket of ``width`` steps.

    Kept on write at a few widths, so a chart of a million-point series reads a few thousand rows. On SQLite
    the rows are stored in the primary key's order (WITHOUT ROWID): a series' buckets of one width sit
    together, where a rowid table spread them over as many pages as the batches that wrote them."""

    __tablename__ = "metric_rollups"
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    width: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    min_step: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float] = mapped_column(Float)
    max_step: Mapped[int] = mapped_column(BigInteger)
    max_value: Mapped[float] = mapped_column(Float)


class Prediction(Base):
    """One example's prediction by a run on a split; a multi-task run's carry their task (NULL: single-task).

    A NULL task cannot sit in a primary key, so two partial unique indexes keep one prediction per example:
    per (run, split, example) among single-task rows, per (run, split, task, example) among the others.
    The mapper's key lists the four columns; a NULL task is a partial key, which SQLAlchemy allows.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        Index(
            "uq_predictions_example",
            "run_id",
            "split",
            "example_id",
            unique=True,
            sqlite_where=text("task IS NULL"),
            postgresql_where=text("task IS NULL"),
        ),
        Index(
            "uq_predictions_task_example",
            "run_id",
            "split",
            "task",
            "example_id",
            unique=True,
            sqlite_where=text("task IS NOT NULL"),
            postgresql_where=text("task IS NOT NULL"),
        ),
        # task follows split in each read index: "task IS NULL" and "task = 'prime'" are both index seeks.
        Index("ix_predictions_errors", "run_id", "split", "task", "is_error", "confidence"),
        # Covers the confusion-matrix GROUP BY, so counting 100,000 predictions reads only this index.
        Index("ix_predictions_confusion", "run_id", "split", "task", "label", "predicted"),
        # "Highest loss first" walks this index and stops after one page instead of sorting every error.
        Index("ix_predictions_errors_loss", "run_id", "split", "task", "is_error", "loss"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(20))
    task: Mapped[str | None] = mapped_column(String(100))
    example_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    predicted: Mapped[str] = mapped_column(String(200))
    is_error: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)

    __mapper_args__ = {"primary_key": [run_id, split, task, example_id]}


class PredictionCount(Base):
    """How many of a run's predictions on a split (and task) share (label, predicted, confidence bin); kept
    by ingest.

    The error-analysis counts read these few hundred rows instead of grouping every prediction per request.
    confidence_bin is floor(confidence * 10) clipped to 9, or -1 where the confidence is missing. task is
    NULL for a single-task run; the rows are only ever replaced whole per (run, split, task), so an index
    stands where a primary key (which cannot hold a NULL) used to.
    """

    __tablename__ = "prediction_counts"
    __table_args__ = (Index("ix_prediction_counts_run", "run_id", "split", "task"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(20))
    task: Mapped[str | None] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    predicted: Mapped[str] = mapped_column(String(200))
    confidence_bin: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)
    confidence_sum: Mapped[float | None] = mapped_column(Float)

    __mapper_args__ = {"primary_key": [run_id, split, task, label, predicted, confidence_bin]}


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_tags_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExampleTag(Base):
    """A tag on one of a project's examples: it outlives the run that first misclassified the example."""

    __tablename__ = "example_tags"
    __table_args__ = (Index("ix_example_tags_tag", "tag_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    example_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class LabelCorrection(Base):
    """A corrected label for a dev/test example, in force from dataset version `applied_version` on."""

    __tablename__ = "label_corrections"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    example_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    corrected_label: Mapped[str] = mapped_column(String(200))
    # None until "apply corrections" makes a new dataset version; later runs then train on it.
    applied_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """An uploaded (or registered) dataset: its normalised .npz lives under the data folder's datasets/."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # npz, csv, images, mnist or cifar10
    filename: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(20))
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    n_classes: Mapped[int] = mapped_column(Integer)
    n_examples: Mapped[int] = mapped_column(Integer)
    classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A multi-task dataset's task names (labels N x K in {0, 1, -1}); NULL for a single-task one.
    tasks: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    has_splits: Mapped[bool] = mapped_column(Boolean, default=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who uploaded it: with auth on, only they, admins and workers see it. NULL: before accounts existed.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class GradientCheck(Base):
    """A numerical gradient check of a model config: queued here, run by a worker, which posts the result."""

    __tablename__ = "gradient_checks"
    __table_args__ = (Index("ix_gradient_checks_status", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a uuid4, as the API spells it
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, done or failed
    dataset: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    batch_size: Mapped[int] = mapped_column(Integer)
    # One GradcheckParameter (as JSON) per parameter tensor, with its reading.
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    max_relative_difference: Mapped[float | None] = mapped_column(Float)
    reading: Mapped[str | None] = mapped_column(Text)
    measured: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who started it: with auth on, only they (and admins and workers) may read it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Sweep(Base):
    """A hyperparameter search: trials are ordinary runs with `sweep_id` set, queued `parallelism` at a
    time."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    strategy: Mapped[str] = mapped_column(String(20), default="random")
    base_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    space: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trials: Mapped[int] = mapped_column(Integer)
    parallelism: Mapped[int] = mapped_column(Integer, default=1)
    early_stopping: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "zoo": trials are queued to the workers; "script": `trainboard agent` asks for them (POST .../next).
    target: Mapped[str] = mapped_column(String(20), default="zoo", server_default="zoo")
    # Trials handed to agents so far: /next takes the next one with a compare-and-set on this counter.
    handed_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A "try next" or "repeat with seeds" sweep: its trials are children of this run, in this group.
    parent_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", name="fk_sweeps_parent_run_id", ondelete="SET NULL")
    )
    trial_group: Mapped[str | None] = mapped_column(String(200))

    project: Mapped[Project] = relationship()


class User(Base):
    """An account; the password is kept only as an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Signed into every session cookie; logging out bumps it, which ends all of the user's sessions.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A bearer token, kept only as its SHA-256; `user_id` is NULL for worker tokens."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # user or worker
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))  # shown in lists so a user can tell tokens apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProjectMember(Base):
    """A user's role in a project: viewer reads, editor also writes runs and tags, owner also manages."""

    __tablename__ = "project_members"
    __table_args__ = (Index("ix_project_members_user", "user_id", "project_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))


class LeaderLease(Base):
    """Which server process runs the background duties (reaper, broker re-sends) on SQLite, until when.

    PostgreSQL uses an advisory lock instead (server/leader.py): released the moment its process dies."""

    __tablename__ = "leader_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunArtifact(Base):
    """A file a run stored (a model, a plot): its bytes live under the data folder's artifacts/."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# What MLflow's tracking API (server/api/mlflow/) keeps that runs and projects have no column for.
class MlflowRunTag(Base):
    """An MLflow key -> value tag (mlflow.runName and mlflow.note.content are the run's name and notes)."""

    __tablename__ = "mlflow_run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowExperimentTag(Base):
    __tablename__ = "mlflow_experiment_tags"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowDeletedRun(Base):
    """A run MLflow's client deleted: hidden from MLflow's searches until restored."""

    __tablename__ = "mlflow_deleted_runs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MlflowDeletedExperiment(Base):
    __tablename__ = "mlflow_deleted_experiments"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Worker(Base):
    """A worker process's last announcement (POST /api/v1/workers/heartbeat, migration 0025): live while
    `last_seen_at` is within the worker timeout."""

    __tablename__ = "workers"

    # "host:pid" of the worker's main process: a restarted worker is a new row, the old one expires.
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    #: Runs it trains at once (Celery's --concurrency).
    concurrency: Mapped[int] = mapped_column(Integer)
    #: Runs (and gradient checks) it trained when it last announced itself.
    active_runs: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class RunAttempt(Base):
    """One claim of a worker's run, and how it ended (migration 0026): the run page's attempt history."""

    __tablename__ = "run_attempts"
    __table_args__ = (Index("ix_run_attempts_run_number", "run_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    #: 1, 2, ... per run (runs.attempt is given back on a hand-back, so it cannot number them).
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: None while it trains; then one of server.services.runs.attempts.OUTCOMES.
    outcome: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    #: The first epoch it trained: 1, or one past the epochs logged before it resumed.
    resumed_from_epoch: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
