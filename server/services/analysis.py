"""Diagnosis and error analysis of one run: load its numbers, hand them to the pure maths."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.datasets import get_dataset
from server.diagnosis import (
    MAX_RECOMMENDATIONS,
    Diagnosis,
    SplitSizes,
    TrainingCurves,
    TrainingHealth,
    assess_training,
    diagnose,
    ladder_from_summary,
    script_knobs,
)
from server.error_analysis import ErrorAnalysis, analyse_confusion, tally_tags
from server.errors import InvalidInput, NotFound
from server.groups import MetricStats, ladder_stats
from server.queue import RunQueue
from server.schemas import TERMINAL_STATUSES, RunFinish
from server.services import groups, metrics, runs, transfer
from server.services.prediction_counts import prediction_counts
from server.services.prediction_tasks import resolve_task, task_is
from server.services.predictions import label_out
from server.services.runs import get_run
from server.tables import ExampleTag, MetricPoint, Prediction, Run, Tag
from trainboard.metric_keys import BEST_EPOCH_KEY, ERROR_KEYS, LOSS_KEYS, SIZE_KEYS

#: Points read per series to judge how training went. A per-epoch curve is read whole; a longer one (a
#: loss logged every step) comes from its rollups, minima and maxima kept: 40,000 raw points cost a run page
#: 70 ms a curve, their rollups a few (bench/diagnosis.py).
CURVE_POINTS = 500


def split_sizes(
    *, session: Session, run_id: int, summary: Mapping[str, float], task: str | None = None
) -> SplitSizes:
    """How many examples each error was measured on: the logged sizes, else the posted predictions (of
    `task`, for one task of a multi-task run)."""
    logged = dict(
        zip(("train", "train_dev", "dev", "test"), (summary.get(k) for k in SIZE_KEYS), strict=True)
    )
    for split in ("dev", "test"):
        if logged[split] is None:
            cells = prediction_counts(session=session, run_id=run_id, split=split, task=task)
            counted = sum(cell.n for cell in cells)
            logged[split] = counted or None
    return SplitSizes.from_mapping(logged)


def _values(session: Session, run_id: int, key: str) -> list[float]:
    try:
        series = metrics.read_series(
            session=session, run_id=run_id, key=key, max_points=CURVE_POINTS, raw_limit=CURVE_POINTS
        )
    except NotFound:
        return []
    return [value for _, value in series.points]


def training_health(*, session: Session, run: Run, sizes: SplitSizes) -> TrainingHealth:
    """Whether the run's training worked: its per-epoch curves against chance for its number of classes."""
    logged = {s.key for s in run.summaries}
    curves = {
        k: _values(session, run.id, k) if k in logged else []
        for k in ("train_error", "dev_error", "train_loss")
    }
    dataset = get_dataset(run.project.dataset, session=session)
    # A single-task run's predictions only: a multi-task run's K binary tasks say nothing together about
    # one constant output (each task's ladder has its own errors).
    cells = prediction_counts(session=session, run_id=run.id, split="dev", task=None)
    n_classes = dataset.n_classes if dataset else len({c.label for c in cells}) or None
    share = None
    if cells:
        per_class: Counter[str] = Counter()
        for cell in cells:
            per_class[cell.predicted] += cell.n
        share = max(per_class.values()) / sum(per_class.values())
    return assess_training(
        TrainingCurves(
            train_error=[v for v in curves["train_error"] if 0.0 <= v <= 1.0],
            dev_error=[v for v in curves["dev_error"] if 0.0 <= v <= 1.0],
            train_loss=curves["train_loss"],
            n_classes=n_classes if n_classes is None or n_classes >= 2 else None,
            train_examples=sizes.train,
            dev_examples=sizes.dev,
            top_predicted_share=share,
        )
    )


def task_summary(summary: Mapping[str, float], task: str) -> dict[str, float]:
    """A multi-task run's summary as one task sees it: its `{task}/...` errors and split sizes in place of
    the overall ones (the losses, the learning rate and the rest stay the run's)."""
    prefix = f"{task}/"
    own = {key.removeprefix(prefix): value for key, value in summary.items() if key.startswith(prefix)}
    shared = {
        key: value
        for key, value in summary.items()
        if "/" not in key and key not in ERROR_KEYS and key not in SIZE_KEYS
    }
    return {**shared, **own}


def run_tasks(*, session: Session, run: Run) -> tuple[str, ...]:
    """The tasks of the run's dataset (empty unless it is a multi-task dataset)."""
    dataset = get_dataset(run.project.dataset, session=session)
    return dataset.tasks if dataset else ()


def diagnose_run(*, session: Session, run_id: int, task: str | None = None) -> Diagnosis:
    """Bias, variance, data mismatch and dev overfitting of the run's errors, with their noise and advice;
    with `task`, of that task of a multi-task run (InvalidInput for a task its dataset does not have).

    The errors are the summary's: the last epoch's, or the best epoch's once a run that kept its best
    weights has finished (``pin_best_epoch``), the same epoch its predictions describe. A run of your own
    script gets its advice in its own parameters' names (``script_knobs``)."""
    run = get_run(session=session, run_id=run_id)
    summary = {s.key: s.value for s in run.summaries}
    steps = {s.key: s.step for s in run.summaries}
    if task is not None:
        tasks = run_tasks(session=session, run=run)
        if task not in tasks:
            known = f"has the tasks {', '.join(tasks)}" if tasks else "is not a multi-task dataset"
            raise InvalidInput(["query", "task"], f"Run {run_id}'s dataset {known}, but got task={task!r}")
        summary = task_summary(summary, task)
        steps = {key.removeprefix(f"{task}/"): step for key, step in steps.items()}
    ladder = ladder_from_summary(run.project.human_level_error, summary)
    sizes = split_sizes(session=session, run_id=run_id, summary=summary, task=task)
    dataset = get_dataset(run.project.dataset, session=session)
    knobs = script_knobs(run.params or {}) if run.external else None
    diagnosis = diagnose(
        ladder,
        knobs.config if knobs is not None else run.config,
        sizes=sizes,
        health=training_health(session=session, run=run, sizes=sizes),
        step=steps.get("dev_error", steps.get("train_error")),
        best_epoch=int(summary[BEST_EPOCH_KEY])
        if math.isfinite(summary.get(BEST_EPOCH_KEY, math.nan))
        else None,
        stopped_early=_stopped_early(run, steps),
        dataset_kind=dataset.kind if dataset else None,
    )
    if knobs is None:
        return diagnosis
    return replace(diagnosis, recommendations=knobs.repoint(diagnosis.recommendations))


def with_workspace_advice(
    diagnosis: Diagnosis, *, session: Session, run_id: int, visible: Select[int] | None
) -> Diagnosis:
    """The diagnosis plus advice that depends on the caller's workspace: for data mismatch, fine-tuning
    from a run trained on a larger set they can see (first among the data-mismatch advice)."""
    if diagnosis.primary != "data_mismatch":
        return diagnosis
    advice = transfer.fine_tune_advice(
        session=session, run=get_run(session=session, run_id=run_id), visible=visible
    )
    if advice is None:
        return diagnosis
    kept = list(diagnosis.recommendations)
    at = next((i for i, r in enumerate(kept) if r.gap == "data_mismatch"), len(kept))
    kept.insert(at, advice)
    return replace(diagnosis, recommendations=tuple(kept[:MAX_RECOMMENDATIONS]))


@dataclass(frozen=True)
class GroupLadder:
    """The spread of a run's seed group on each rung and gap: is the run's gap real or seed noise?"""

    group: str
    runs: int  # succeeded runs counted
    stats: dict[str, MetricStats]


def group_ladder(*, session: Session, run: Run) -> GroupLadder | None:
    """Mean and std of every rung and gap over the succeeded runs of the run's group; None outside a group."""
    if run.group is None:
        return None
    summaries = groups.succeeded_summaries(session=session, project_id=run.project_id, group=run.group)
    ladders = [ladder_from_summary(run.project.human_level_error, summary) for summary in summaries]
    return GroupLadder(run.group, len(ladders), ladder_stats(ladders))


def _stopped_early(run: Run, steps: Mapping[str, int]) -> bool:
    """Early stopping ended the run before its configured epochs (best_epoch is logged after the last one)."""
    epochs = ((run.config or {}).get("hparams") or {}).get("epochs")
    last = steps.get(BEST_EPOCH_KEY)
    return isinstance(epochs, int) and last is not None and last < epochs


def pin_best_epoch(*, session: Session, run: Run) -> int | None:
    """Point the run's summary errors and losses at its best epoch, when it kept that epoch's weights.

    The worker restores the best epoch's weights at the end of early stopping and posts predictions made
    with them; without this the summary (and so the ladder, the run list and the leaderboard) kept the
    last epoch, and the run page described two different models. Returns the best epoch, or None."""
    summaries = {s.key: s for s in run.summaries}
    best = summaries.get(BEST_EPOCH_KEY)
    if best is None or not math.isfinite(best.value) or best.value < 1:
        return None
    step = int(best.value)
    rows = session.execute(
        select(MetricPoint.key, MetricPoint.value).where(
            MetricPoint.run_id == run.id,
            MetricPoint.step == step,
            MetricPoint.key.in_(ERROR_KEYS + LOSS_KEYS),
        )
    ).all()
    for key, value in rows:
        summary = summaries.get(key)
        if summary is not None:
            summary.step, summary.value = step, value
    return step


def finish_run(*, session: Session, run_id: int, data: RunFinish, queue: RunQueue) -> Run:
    """Finish a run as its worker or script says, after checking that a "succeeded" run really learned.

    A run kept at its best epoch first has its summary moved there. A run whose errors never left chance
    (and whose loss did not fall steadily) ends ``diverged`` with the reason, whatever the caller said:
    "succeeded" would send its numbers into the leaderboard and the search as if they meant something."""
    run = get_run(session=session, run_id=run_id)
    if data.status == "succeeded" and run.status == "diverged" and run.finished_at is not None:
        data = RunFinish(status="diverged")  # a retried finish after the server's own verdict: it stands
    if data.status == "succeeded" and run.status not in TERMINAL_STATUSES:
        pin_best_epoch(session=session, run=run)
        summary = {s.key: s.value for s in run.summaries}
        health = training_health(
            session=session, run=run, sizes=split_sizes(session=session, run_id=run_id, summary=summary)
        )
        if health.status == "not_learning":
            data = RunFinish(status="diverged", error=f"{health.reason}: try a lower learning rate")
    return runs.finish_run(session=session, run_id=run_id, data=data, queue=queue)


def analyse_run_errors(
    *, session: Session, run_id: int, split: str, task: str | None = None
) -> ErrorAnalysis:
    """Counts per tag with their ceilings, per-class precision/recall/F1 and the confusion matrix (of one
    task, for a multi-task run: InvalidInput without one)."""
    run = get_run(session=session, run_id=run_id)
    task = resolve_task(session=session, run=run, task=task)
    # The stored counts: at most k x k x 11 rows, however many predictions the split has.
    cells: dict[tuple[int | str, int | str], int] = {}
    for cell in prediction_counts(session=session, run_id=run_id, split=split, task=task):
        key = (label_out(cell.label), label_out(cell.predicted))
        cells[key] = cells.get(key, 0) + cell.n
    # One pass over the tagged errors (the project's tags joined to the predictions' primary key).
    rows = session.execute(
        select(ExampleTag.example_id, Tag.name)
        .join(Tag, Tag.id == ExampleTag.tag_id)
        .join(
            Prediction,
            (Prediction.example_id == ExampleTag.example_id)
            & (Prediction.run_id == run_id)
            & (Prediction.split == split)
            & task_is(Prediction.task, task),
        )
        .where(ExampleTag.project_id == run.project_id, Prediction.is_error.is_(True))
    ).all()
    tags_of_errors: dict[str, list[str]] = defaultdict(list)
    for example_id, name in rows:
        tags_of_errors[example_id].append(name)
    return analyse_confusion(cells, tally_tags(tags_of_errors.values()))
