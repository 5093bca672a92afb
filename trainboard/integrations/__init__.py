"""Trainboard for training code written with a framework: each integration maps the framework's metric
names to the canonical keys, so the diagnosis works on its runs.

- ``trainboard.integrations.huggingface``: ``TrainboardCallback``, a ``transformers`` Trainer callback
  (``pip install "trainboard[huggingface]"``).
- ``trainboard.integrations.lightning``: ``TrainboardLogger``, a PyTorch Lightning logger, and
  ``TrainboardCallback``, which logs the split sizes and posts dev predictions
  (``pip install "trainboard[lightning]"``).
- ``log_classification_predictions(run, split, example_ids, labels, logits_or_probs)``: any classifier's
  outputs as predictions, for error analysis.

The framework modules are imported only when named, so this package needs neither framework.
"""

from __future__ import annotations

from trainboard.integrations._keys import canonical_metrics
from trainboard.integrations._predictions import log_classification_predictions

__all__ = ["canonical_metrics", "log_classification_predictions"]
