"""The run config, defined once and torch-free: the server validates submissions with it, the worker trains
from it and the client library hands it back typed.

`Hparams` and `RunConfig` refuse unknown fields (extra="forbid"), so a misspelt hyperparameter is a 422
naming the field when the run is submitted. A config the server stored earlier reads back with the same
schema: fields have only ever been added, so an older config lacks some and they take their defaults;
a field this code does not know means the config came from a newer server, and `RunConfig.from_stored`
refuses it by name (the run fails saying so) instead of training without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from trainboard.storable import refuse_nul, refuse_unstorable

#: Ids are 32-bit integers on PostgreSQL (server/ids.py MAX_ID holds the same bound).
MAX_ID = 2**31 - 1

Optimizer = Literal["sgd", "momentum", "rmsprop", "adam"]
LrDecay = Literal["none", "step", "exponential", "inverse", "cosine"]
#: fp32 trains in single precision; bf16 under autocast to bfloat16 (CPU and CUDA); fp16 under autocast to
#: float16 with a gradient scaler, CUDA only (CPU autocast has no gradient scaler and fp16 kernels are slow).
Precision = Literal["fp32", "bf16", "fp16"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
LR_DECAYS: tuple[str, ...] = get_args(LrDecay)
PRECISIONS: tuple[str, ...] = get_args(Precision)

#: Each learning-rate schedule's own decay rate, used when `decay_rate` is left blank. inverse: the
#: deep-learning course's 1 / (1 + 1 * epoch); exponential: its 0.95 ** epoch; step: halve every
#: `decay_steps` epochs. See worker/optim.py::learning_rate for the formulas.
DEFAULT_DECAY_RATES: dict[str, float] = {"inverse": 1.0, "exponential": 0.95, "step": 0.5}

#: Each built-in dataset's defaults, applied under what the user sets and over `Hparams`' own.
DATASET_HPARAMS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 30, "batch_size": 64, "lr": 0.001},
    "digits-shifted": {"epochs": 30, "batch_size": 64, "lr": 0.001},
    "digits-source": {"epochs": 30, "batch_size": 64, "lr": 0.001},
    # 72 training images: small batches, so that an epoch is nine steps rather than one or two.
    "digits-target": {"epochs": 30, "batch_size": 8, "lr": 0.001},
    "digits-tasks": {"epochs": 30, "batch_size": 64, "lr": 0.001},
    "breast_cancer": {"epochs": 30, "batch_size": 32, "lr": 0.001},
    "wine": {"epochs": 40, "batch_size": 16, "lr": 0.001},
}
#: The defaults of an uploaded dataset.
UPLOAD_HPARAMS: dict[str, Any] = {"epochs": 20, "batch_size": 64, "lr": 0.001}


class Hparams(BaseModel):
    """Training hyperparameters. Fields the user leaves out take the dataset's defaults, then these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=30, ge=1, le=10_000, description="Passes over the training split.")
    batch_size: int = Field(
        default=64, ge=1, le=1_000_000, description="Mini-batch size (1 up to the whole set)."
    )
    lr: float = Field(default=0.001, gt=0, le=10, description="Learning rate.")
    optimizer: Optimizer = Field(default="adam", description="Optimiser.")
    beta: float = Field(default=0.9, ge=0, lt=1, description="Momentum / RMSprop decay beta.")
    beta1: float = Field(default=0.9, ge=0, lt=1, description="Adam's first-moment beta.")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam's second-moment beta.")
    eps: float = Field(default=1e-8, gt=0, le=1, description="Epsilon of RMSprop and Adam.")
    l2: float = Field(default=0.0, ge=0, le=10, description="L2 weight-decay lambda.")
    keep_prob: float = Field(
        default=1.0, gt=0, le=1, description="Dropout keep probability (1 = no dropout)."
    )
    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Seed: the same seed repeats a CPU run exactly."
    )
    train_fraction: float = Field(default=1.0, gt=0, le=1, description="Share of the training split used.")
    lr_decay: LrDecay = Field(default="none", description="Learning-rate schedule over epochs.")
    decay_rate: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Decay rate of the schedule; blank takes the schedule's own: "
        + ", ".join(f"{schedule} {rate:g}" for schedule, rate in DEFAULT_DECAY_RATES.items()),
        json_schema_extra={"blank_follows": "lr_decay", "blank_defaults": dict(DEFAULT_DECAY_RATES)},
    )
    decay_steps: int = Field(default=10, ge=1, le=10_000, description="Epochs between steps of 'step' decay.")
    early_stopping_patience: int | None = Field(
        default=None, ge=1, le=10_000, description="Stop after this many epochs without a better dev error."
    )
    grad_clip: float | None = Field(default=None, gt=0, le=1e6, description="Clip the gradient norm to this.")
    augment: bool = Field(default=False, description="Image augmentation: small shifts, rotations and noise.")
    normalize: bool = Field(default=True, description="Standardise inputs with train-split statistics.")
    precision: Precision = Field(
        default="fp32",
        description="Training arithmetic: fp32; bf16 autocast (CPU or CUDA); fp16 autocast with a gradient "
        "scaler (CUDA workers only).",
    )

    def effective_decay_rate(self) -> float | None:
        """The decay rate the schedule uses: `decay_rate`, else the schedule's own; None without decay."""
        if self.lr_decay not in DEFAULT_DECAY_RATES:
            return None
        return self.decay_rate if self.decay_rate is not None else DEFAULT_DECAY_RATES[self.lr_decay]


class RunConfigError(ValueError):
    """A stored config this code cannot train from; the message names the field (it becomes the run's
    error)."""


#: What a fine-tuned run trains: only the output layer, every layer, or the last N weight layers.
Trainable = Literal["head", "all"] | Annotated[int, Field(ge=1, le=1000)]


class Transfer(BaseModel):
    """Start from another run's final weights (transfer learning). Layers are matched by name and shape, so
    an output layer whose class count differs is made new; what `trainable` leaves out stays frozen, and a
    batch-norm layer in the frozen part keeps its running statistics (it runs in eval mode)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_run_id: int = Field(ge=1, le=MAX_ID, description="The run whose final weights this run starts from.")
    trainable: Trainable = Field(
        default="head",
        description='What trains: "head" (the output layer only: a small target set), "all" (every '
        "layer: more target data) or N (the last N weight layers).",
    )

    def trainable_layers(self, n_layers: int) -> int:
        """How many of a model's `n_layers` weight layers (counted from the output) train."""
        if self.trainable == "all":
            return n_layers
        if self.trainable == "head":
            return 1
        return min(self.trainable, n_layers)


class RunConfig(BaseModel):
    """What a queued run trains: the architecture and its options, the hyperparameters, the dataset
    version. The server stores it resolved (every default filled in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Free-form until the model registry reads it: NUL and NaN, which no database stores, are refused now.
    model: Annotated[dict[str, Any], AfterValidator(refuse_unstorable)] = Field(
        default_factory=dict, description="Architecture and its options."
    )
    hparams: Hparams = Field(default_factory=Hparams)
    dataset_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The project's dataset version to train and evaluate on (each applying of label "
        "corrections makes a new one); default the current one. A run's config, read back, names the "
        "version it used, so resubmitting it repeats the run on the same labels.",
    )

    transfer: Transfer | None = Field(
        default=None, description="Start from another run's weights (fine-tuning); null trains from scratch."
    )
    task: Annotated[str, AfterValidator(refuse_nul)] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="A multi-task dataset: train on this one task only (its labels alone count), the "
        "separate network a multi-task run is compared with; null trains every task.",
    )

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> RunConfig:
        """The config of a run as the server hands it back (None or {} for an external run).

        Raises RunConfigError naming the field when it holds one this code does not know (a newer server
        wrote it: training without it would silently change the run) or a value it refuses."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                raise RunConfigError(
                    f"the run's config has {field}, which this worker does not know: the server is newer "
                    "than the worker; upgrade the worker and resubmit the run"
                ) from None
            raise RunConfigError(f"the run's config has a bad {field}: {error['msg']}") from None


def precision_refusal(precision: str, device: str) -> str | None:
    """Why `precision` cannot train on `device` ("cpu", "cuda:1", or "auto" when not known yet), or None.

    Only the device type is judged here; a CUDA GPU without bfloat16 is refused by the worker, which can ask
    it."""
    kind = device.split(":", 1)[0]
    if precision == "fp16" and kind not in ("cuda", "auto"):
        return (
            "fp16 trains only on a CUDA device (with a gradient scaler), but the worker's device is "
            f"{device}: choose bf16 (CPU or CUDA) or fp32"
        )
    return None


__all__ = [
    "DATASET_HPARAMS",
    "DEFAULT_DECAY_RATES",
    "LR_DECAYS",
    "OPTIMIZERS",
    "PRECISIONS",
    "UPLOAD_HPARAMS",
    "Hparams",
    "Precision",
    "RunConfig",
    "RunConfigError",
    "Trainable",
    "Transfer",
    "precision_refusal",
]
