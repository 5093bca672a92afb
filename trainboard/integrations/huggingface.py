"""A Hugging Face ``transformers`` Trainer callback that logs to Trainboard.

    trainer = Trainer(..., compute_metrics=accuracy, callbacks=[TrainboardCallback(project="sst2")])

Steps: Trainboard's canonical keys hold one point per epoch at step = the epoch number (API.md), and the
diagnosis, ``best_epoch`` and the run page read them so. With ``eval_strategy="epoch"`` every evaluation is
logged at its epoch (1, 2, ...), and so is the training loss when ``logging_strategy="epoch"``; training logs
made every N steps then keep Hugging Face's own names (``loss``, ``learning_rate``, ``grad_norm``) at step =
the global step, as finer-grained series beside the per-epoch ones. With ``eval_strategy="steps"`` there is
no epoch to align to, and every key uses step = the global step. Either way one series never mixes epochs
with global steps, which would draw epoch 2 beside batch 2 and hand the diagnosis an unrelated pair.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainboard.client import BaseRun, Client
from trainboard.integrations._keys import canonical_metrics, epoch_step, split_of
from trainboard.integrations._predictions import log_classification_predictions
from trainboard.integrations._runs import log_metrics, scalar_params, start_run

logger = logging.getLogger("trainboard.integrations")

#: The model config's fields worth a column in the params table (those the model's config has).
MODEL_FIELDS = (
    "model_type", "num_labels", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "max_position_embeddings", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "dim", "n_layers", "n_heads", "hidden_dim", "dropout", "attention_dropout", "seq_classif_dropout",
    "classifier_dropout", "d_model", "num_layers", "num_heads",
)  # fmt: skip
#: Training-log names -> canonical keys, for runs whose training logs line up with their evaluations.
TRAINING_KEYS = {"loss": "train_loss", "learning_rate": "lr"}
#: The Trainer's end-of-training summary: its train_loss is a mean over all steps, not an epoch's loss.
SUMMARY_ONLY = frozenset({"train_loss"})


def model_params(model: Any) -> dict[str, Any]:
    """The model config's key fields and the parameter count, as ``model.*`` params."""
    config = getattr(model, "config", None)
    fields = {name: getattr(config, name) for name in MODEL_FIELDS if hasattr(config, name)}
    if hasattr(model, "parameters"):
        fields["num_parameters"] = sum(p.numel() for p in model.parameters())
    return scalar_params(fields, prefix="model.")


def _per_epoch(strategy: Any) -> bool:
    """Whether an IntervalStrategy (an enum, or its string) is "epoch"."""
    value: object = getattr(strategy, "value", strategy)
    return value == "epoch"


def _size(dataloader: Any) -> int | None:
    dataset = getattr(dataloader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:  # an iterable dataset has no length
        return None


class TrainboardCallback(TrainerCallback):
    """Starts a Trainboard run when training begins, logs every evaluation and training log, and finishes
    the run when training ends (a script that dies of an exception has it marked failed at exit).

    Metrics: ``eval_loss`` -> ``dev_loss``, ``eval_accuracy`` -> ``dev_accuracy`` and ``dev_error`` =
    1 - accuracy (return ``accuracy`` or ``error`` from ``compute_metrics``), other ``eval_*`` -> ``dev_*``;
    with ``eval_dataset={"dev": ..., "train": ...}`` the Trainer's ``eval_train_accuracy`` gives
    ``train_error``, which the diagnosis needs. Training logs: ``loss`` -> ``train_loss``,
    ``learning_rate`` -> ``lr`` (see the module's note on steps). ``trainer.predict(test, metric_key_prefix=
    "test")`` gives ``test_error``. The evaluated sizes go to ``dev_examples``, ``train_examples``, ... at
    step 0 (the training set's size when no train split is evaluated), so the diagnosis can tell a gap from
    noise. Params: ``TrainingArguments`` (strings, booleans and
    numbers) and the model config's key fields as ``model.*``.

    Args:
        project: the Trainboard project; None: TRAINBOARD_PROJECT.
        name: the run's name; default ``TrainingArguments.run_name``.
        group: runs that differ only by seed share a group.
        trainer: the Trainer, needed only to post predictions (``trainer.add_callback(TrainboardCallback(
            trainer=trainer, ...))``).
        predict_dataset: a labelled dataset whose predictions are posted when training ends (as
            ``predict_split``, default "dev"), so that error analysis works on them.
        example_ids: stable ids of ``predict_dataset``'s examples; default their positions.
        client: a ``trainboard.Client`` (default: from the settings, TRAINBOARD_SERVER_URL ...).
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        group: str | None = None,
        trainer: Any = None,
        predict_dataset: Any = None,
        predict_split: str = "dev",
        example_ids: Sequence[Any] | None = None,
        client: Client | None = None,
    ) -> None:
        if predict_dataset is not None and trainer is None:
            raise ValueError("predict_dataset needs trainer=: the callback runs trainer.predict on it")
        self.project, self.name, self.group, self.client = project, name, group, client
        self.trainer, self.predict_dataset, self.predict_split = trainer, predict_dataset, predict_split
        self.example_ids = example_ids
        self.run: BaseRun | None = None
        self._predicting = False
        # Size keys the evaluations logged: a split's error is measured on what was evaluated, so the
        # training set's own size is the fallback for train_examples, logged at the end (a (key, step)
        # keeps its first value, so logging it first would win over the evaluated subset's).
        self._sized: set[str] = set()
        self._train_size: int | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Start the run, with the arguments and the model's key fields as params."""
        if not state.is_world_process_zero or (self.run is not None and not self.run.finished):
            return  # a second train() (a hyperparameter search's next trial) starts a run of its own
        arguments = args.to_dict()  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
        params = scalar_params(arguments) | model_params(kwargs.get("model"))
        self.run = start_run(
            project=self.project,
            name=self.name or getattr(args, "run_name", None),
            params=params,
            group=self.group,
            client=self.client,
        )
        self._sized, self._train_size = set(), _size(kwargs.get("train_dataloader"))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log a training or evaluation log, mapped to the canonical keys."""
        if self.run is None or not logs or self._predicting:
            return
        logs = {k: v for k, v in logs.items() if k != "epoch" and isinstance(v, int | float)}
        per_epoch = _per_epoch(args.eval_strategy)
        if "train_runtime" in logs:  # the end-of-training summary
            summary = {k: v for k, v in logs.items() if k not in SUMMARY_ONLY}
            log_metrics(self.run, summary, step=state.global_step)
        elif any(split_of(key) is not None for key in logs):  # an evaluation
            log_metrics(self.run, canonical_metrics(logs), step=self._step(state, per_epoch))
        elif not per_epoch or _per_epoch(args.logging_strategy):
            renamed = {TRAINING_KEYS.get(k, k): v for k, v in logs.items()}
            log_metrics(self.run, renamed, step=self._step(state, per_epoch))
        else:  # logged every N steps within epochs: finer-grained, under Hugging Face's own names
            log_metrics(self.run, logs, step=state.global_step)

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Record the size of the split just evaluated (the noise level of its error)."""
        metrics = kwargs.get("metrics") or {}
        size = _size(kwargs.get("eval_dataloader"))
        runtime = next((k for k in metrics if k.endswith("_runtime")), None)
        parsed = split_of(runtime) if runtime else None
        if self.run is not None and size and parsed is not None and not self._predicting:
            key = f"{parsed[0]}_examples"
            if key not in self._sized:
                self._sized.add(key)
                log_metrics(self.run, {key: size}, step=0)

    def on_predict(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, float],
        **kwargs: Any,
    ) -> None:
        """Log ``trainer.predict(test, metric_key_prefix="test")``'s metrics, e.g. test_error."""
        if self.run is None or self._predicting:
            return
        per_epoch = _per_epoch(args.eval_strategy)
        scores = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        log_metrics(self.run, canonical_metrics(scores), step=self._step(state, per_epoch))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Post the predictions when asked, then finish the run as succeeded."""
        if self.run is None:
            return
        if "train_examples" not in self._sized and self._train_size:
            log_metrics(self.run, {"train_examples": self._train_size}, step=0)
        if self.predict_dataset is not None:
            self._post_predictions()
        self.run.finish()

    def _post_predictions(self) -> None:
        assert self.run is not None
        self._predicting = True  # its metrics repeat the last evaluation's; they are not logged again
        try:
            output = self.trainer.predict(self.predict_dataset, metric_key_prefix=self.predict_split)
        finally:
            self._predicting = False
        if output.label_ids is None:
            logger.warning("trainboard: predict_dataset has no labels; no predictions posted")
            return
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        log_classification_predictions(
            self.run, self.predict_split, self.example_ids, output.label_ids, logits
        )

    @staticmethod
    def _step(state: TrainerState, per_epoch: bool) -> int:
        if per_epoch and state.epoch is not None:
            return epoch_step(state.epoch)
        return state.global_step
