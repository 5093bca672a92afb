"""Next experiments from a run: clones with one knob changed, and the learning curve over data size."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from server.datasets import get_dataset
from server.diagnosis import ladder_from_summary
from server.errors import Conflict, InvalidInput
from server.learning_curves import (
    DataSizePoint,
    data_size_curve,
    read_data_size_curve,
    read_transfer_comparison,
)
from server.queue import RunQueue
from server.schemas import Hparams, RunCreate
from server.services.runs import create_run, get_run
from server.tables import Run, RunSummary
from trainboard.datasets import DEFAULT_FRACTIONS, SPLIT_FRACTIONS

SECTIONS = ("model", "hparams")
#: The one transfer field a change may set (a Try next: "fine-tune from run N").
TRANSFER_PATH = "transfer.from_run_id"
DATA_SIZE_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
#: params marker that groups the runs of one data-size curve: {"data_size_curve_of": <parent run id>}.
CURVE_MARKER = "data_size_curve_of"
#: params marker of the from-scratch twins a fine-tuned run's data-size curve trains beside its own runs.
SCRATCH_MARKER = "from_scratch"
#: Share of a built-in dataset in the train split, for runs that did not log `train_examples` themselves.
TRAIN_SHARE = DEFAULT_FRACTIONS[0]
DEAD_STATUSES = frozenset({"failed", "diverged", "cancelled"})


def _refuse(path: str, message: str) -> InvalidInput:
    return InvalidInput(["body", "changes", path], f"{path}: {message}")


def apply_changes(config: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` and ``hparams`` of ``config`` (and its ``transfer``) with each dotted path set; refuses
    an unknown path.

    Changing ``model.name`` drops the other model options (they belong to the old architecture).
    """
    new = {section: copy.deepcopy(dict(config.get(section) or {})) for section in SECTIONS}
    if config.get("transfer"):  # a fine-tuned run's copy starts from the same weights
        new["transfer"] = copy.deepcopy(config["transfer"])
    if config.get("task"):
        new["task"] = config["task"]
    for path in sorted(changes, key=lambda p: p != "model.name"):
        if path == "task":  # one task of a multi-task dataset
            new["task"] = copy.deepcopy(changes[path])
            continue
        if path == TRANSFER_PATH:  # "fine-tune from run N": that run's architecture and weights
            trainable = (config.get("transfer") or {}).get("trainable", "head")
            new["transfer"] = {"from_run_id": copy.deepcopy(changes[path]), "trainable": trainable}
            new["model"] = {}
            continue
        section, _, key = path.partition(".")
        if section not in SECTIONS or not key or "." in key:
            raise _refuse(path, f"unknown config path; use model.<option>, hparams.<name> or {TRANSFER_PATH}")
        if section == "hparams" and key not in Hparams.model_fields:
            raise _refuse(path, f"unknown hyperparameter; choose one of {', '.join(Hparams.model_fields)}")
        if path == "model.name":
            new["model"] = {}
        new[section][key] = copy.deepcopy(changes[path])
    return new


def _config_path(loc: list[str | int] | tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "config") and not isinstance(p, int))


def clone_run(
    *,
    session: Session,
    run_id: int,
    changes: dict[str, Any],
    queue: RunQueue,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    group: str | None = None,
    from_scratch: bool = False,
    commit: bool = True,
) -> Run:
    """Queue a child of the run with the same config but ``changes`` applied ("try next"), in ``group``
    (with ``commit=False``, only recorded: see ``create_run``).

    Raises NotFound for an unknown run and InvalidInput, located at ``["body", "changes", path]``, for an
    unknown path or a value the config schema (or the model) refuses. A copy of a fine-tuned run starts
    from the same weights unless ``from_scratch``.
    """
    parent = get_run(session=session, run_id=run_id)
    if parent.external:
        raise Conflict(
            f"Run {run_id} is trained by your own script, so no worker can train its copy: "
            f"POST /api/v1/runs/{run_id}/agent-copy hands it to trainboard agent"
        )
    config = apply_changes(parent.config or {}, changes)
    if from_scratch:
        config.pop("transfer", None)
    label = ", ".join(f"{path}={value}" for path, value in changes.items())
    try:
        data = RunCreate.model_validate(
            {
                "project_id": parent.project_id,
                "parent_id": parent.id,
                "name": (name or f"{parent.name} {label}")[:200],
                "config": config,
                "params": {**(params or {}), "changes": changes},
                "group": group,
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        path = _config_path(error["loc"])
        raise _refuse(path, error["msg"].removeprefix("Value error, ")) from None
    try:
        return create_run(session=session, data=data, queue=queue, commit=commit)
    except InvalidInput as exc:
        path = _config_path(exc.loc)
        if path in changes or path.startswith("model."):
            raise _refuse(path, exc.message) from None
        raise


def curve_runs(*, session: Session, run_id: int) -> list[Run]:
    """The children queued as the run's data-size curve, oldest first."""
    children = session.scalars(select(Run).where(Run.parent_id == run_id).order_by(Run.id))
    return [child for child in children if (child.params or {}).get(CURVE_MARKER) == run_id]


def queue_data_size_curve(*, session: Session, run_id: int, queue: RunQueue) -> list[Run]:
    """Queue the run's config at 10, 25, 50 and 100 % of the training data, as children of the run; for a
    fine-tuned run, also the same config from scratch at the same fractions (does transfer pay?)."""
    parent = get_run(session=session, run_id=run_id)
    live = [r for r in curve_runs(session=session, run_id=run_id) if r.status not in DEAD_STATUSES]
    if live:
        ids = ", ".join(f"#{r.id}" for r in live)
        raise Conflict(f"Run {run_id} already has a data-size curve (runs {ids})")
    arms = [False, True] if (parent.config or {}).get("transfer") else [False]
    return [
        clone_run(
            session=session,
            run_id=run_id,
            changes={"hparams.train_fraction": fraction},
            queue=queue,
            name=f"{parent.name} @ {fraction:.0%} data{', from scratch' if scratch else ''}",
            params={CURVE_MARKER: run_id, **({SCRATCH_MARKER: True} if scratch else {})},
            from_scratch=scratch,
        )
        for scratch in arms
        for fraction in DATA_SIZE_FRACTIONS
    ]


def train_examples(run: Run, summary: dict[str, float]) -> int | None:
    """How many training examples the run saw: its logged `train_examples`, else the catalog's count."""
    logged = summary.get("train_examples")
    if logged is not None and math.isfinite(logged) and logged >= 1:
        return int(round(logged))
    dataset = get_dataset(run.project.dataset, session=object_session(run))
    fraction = ((run.config or {}).get("hparams") or {}).get("train_fraction", 1.0)
    if dataset is None or not isinstance(fraction, int | float):
        return None
    # As trainboard/datasets.py cuts it: a prefix of ceil(fraction * train split) examples.
    share = SPLIT_FRACTIONS.get(dataset.name, DEFAULT_FRACTIONS)[0]
    return max(1, math.ceil(fraction * round(share * dataset.n_examples)))


@dataclass(frozen=True)
class DataSizeCurve:
    """The runs of a data-size curve, its points (train and dev error by examples) and how to read it."""

    runs: list[Run]
    points: tuple[DataSizePoint, ...]
    reading: str
    pending: int  # runs still queued or running
    # A fine-tuned run's curve: the same fractions from scratch, and which wins where.
    scratch_points: tuple[DataSizePoint, ...] = ()
    transfer_reading: str = ""
    scratch_runs: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.id for r in self.runs],
            "points": [vars(p) for p in self.points],
            "reading": self.reading,
            "pending": self.pending,
            "scratch_points": [vars(p) for p in self.scratch_points],
            "transfer_reading": self.transfer_reading,
        }


def data_size_curve_of(*, session: Session, run_id: int) -> DataSizeCurve | None:
    """The run's data-size curve, or None when none was queued; the newest run per size counts."""
    get_run(session=session, run_id=run_id)
    runs = [r for r in curve_runs(session=session, run_id=run_id) if r.status not in DEAD_STATUSES]
    if not runs:
        return None
    summaries: dict[int, dict[str, float]] = {run.id: {} for run in runs}
    rows = session.execute(
        select(RunSummary.run_id, RunSummary.key, RunSummary.value).where(RunSummary.run_id.in_(summaries))
    )
    for summary_run_id, key, value in rows:
        summaries[summary_run_id][key] = value
    by_arm: dict[bool, dict[int, tuple[int, float | None, float | None]]] = {False: {}, True: {}}
    for run in runs:  # oldest first, so a newer run at the same size wins
        examples = train_examples(run, summaries[run.id])
        if examples is None:
            continue
        ladder = ladder_from_summary(None, summaries[run.id])
        by_arm[_is_scratch(run)][examples] = (examples, ladder.train_error, ladder.dev_error)
    points = data_size_curve(list(by_arm[False].values()))
    scratch = data_size_curve(list(by_arm[True].values()))
    pending = sum(1 for r in runs if r.status in ("queued", "running"))
    return DataSizeCurve(
        runs=runs,
        points=points,
        reading=read_data_size_curve(points),
        pending=pending,
        scratch_points=scratch,
        transfer_reading=read_transfer_comparison(points, scratch) if any(map(_is_scratch, runs)) else "",
        scratch_runs=frozenset(r.id for r in runs if _is_scratch(r)),
    )


def _is_scratch(run: Run) -> bool:
    return bool((run.params or {}).get(SCRATCH_MARKER))
