"""A classifier's per-example outputs -> the prediction rows error analysis reads (POST .../predictions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class _Run(Protocol):
    def log_predictions(self, split: str, predictions: list[dict[str, Any]]) -> int: ...


def _array(values: Any) -> np.ndarray:
    """Numpy from a list, a numpy array or a torch tensor (on any device, with or without grad)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def probabilities(scores: Any) -> np.ndarray:
    """Rows of class probabilities from logits or probabilities, (N, C).

    Rows that are already probabilities (non-negative, summing to 1) are kept; any other row is taken as
    logits and softmaxed (shifted by its maximum, so large logits do not overflow)."""
    array = _array(scores).astype(np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"logits_or_probs must be (examples, classes) with 2 or more classes, but got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("logits_or_probs holds NaN or infinite values")
    are_probs = (array >= 0).all(axis=1) & np.isclose(array.sum(axis=1), 1.0, atol=1e-4)
    shifted = np.exp(array - array.max(axis=1, keepdims=True))
    softmax = shifted / shifted.sum(axis=1, keepdims=True)
    return np.where(are_probs[:, None], array, softmax)


def classification_rows(
    example_ids: Sequence[Any] | None,
    labels: Any,
    logits_or_probs: Any,
    class_names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per example: its id, true label, predicted class, the predicted class's probability and the
    example's cross-entropy loss. Ids default to the examples' positions ("0", "1", ...); with
    ``class_names``, labels and predictions are sent as names instead of indices."""
    probs = probabilities(logits_or_probs)
    truth = _array(labels).astype(np.int64).reshape(-1)
    n, classes = probs.shape
    if truth.shape[0] != n:
        raise ValueError(f"labels has {truth.shape[0]} entries but logits_or_probs {n} rows")
    if ((truth < 0) | (truth >= classes)).any():
        raise ValueError(
            f"labels must be class indices in [0, {classes}), but got {sorted(set(truth.tolist()))[:5]}"
        )
    ids = [str(i) for i in range(n)] if example_ids is None else [str(e) for e in example_ids]
    if len(ids) != n:
        raise ValueError(f"example_ids has {len(ids)} entries but logits_or_probs {n} rows")
    if class_names is not None and len(class_names) != classes:
        raise ValueError(f"class_names has {len(class_names)} names but there are {classes} classes")
    predicted = probs.argmax(axis=1)
    confidence = probs[np.arange(n), predicted]
    loss = -np.log(np.clip(probs[np.arange(n), truth], 1e-12, 1.0))
    name = (lambda i: class_names[i]) if class_names is not None else int
    return [
        {"example_id": e, "label": name(y), "predicted": name(p), "confidence": float(c), "loss": float(x)}
        for e, y, p, c, x in zip(ids, truth.tolist(), predicted.tolist(), confidence, loss, strict=True)
    ]


def log_classification_predictions(
    run: _Run,
    split: str,
    example_ids: Sequence[Any] | None,
    labels: Any,
    logits_or_probs: Any,
    *,
    class_names: Sequence[str] | None = None,
) -> int:
    """Post a classifier's predictions on `split` ("dev", "test", ...) so that error analysis works on them.

    Args:
        run: the trainboard run: ``trainboard.init()``'s, ``TrainboardLogger.experiment`` or
            ``TrainboardCallback.run``.
        split: the split the examples come from; posting also records its size for the diagnosis.
        example_ids: stable ids of the examples (so that tags and reviews follow them from run to run), or
            None for their positions.
        labels: the true class indices, (N,).
        logits_or_probs: the model's outputs, (N, classes): logits, or probabilities that sum to 1.
        class_names: names to send instead of class indices.

    Returns:
        How many predictions the server accepted.
    """
    return run.log_predictions(split, classification_rows(example_ids, labels, logits_or_probs, class_names))
