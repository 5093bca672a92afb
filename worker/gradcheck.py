"""Numerical gradient checking: backprop's gradient against central differences, in float64."""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models import build_model
from trainboard.client import Client, TrainboardError
from worker.data import load_splits
from worker.dataset_cache import fetch_dataset, is_uploaded

logger = logging.getLogger(__name__)

EPSILON = 1e-6
#: Entries checked per parameter tensor; larger tensors get a fixed random sample of them.
MAX_ENTRIES = 64


def gradient_check(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epsilon: float = EPSILON,
    max_entries: int = MAX_ENTRIES,
    seed: int = 0,
) -> list[tuple[str, float]]:
    """Per parameter tensor, ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||).

    The model is turned to float64 and eval mode (no dropout, batch norm on running statistics), so the
    cross-entropy on (x, y) is a deterministic function of the weights. Around 1e-7 is right; above 1e-3
    there is a bug in the backward pass.
    """
    model = model.double().eval()
    x = x.double()

    def loss() -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    model.zero_grad(set_to_none=True)
    loss().backward()
    generator = torch.Generator().manual_seed(seed)
    results = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            flat = param.data.view(-1)
            analytic = torch.zeros_like(flat) if param.grad is None else param.grad.reshape(-1)
            count = flat.numel()
            entries = (
                torch.arange(count)
                if count <= max_entries
                else torch.randperm(count, generator=generator)[:max_entries]
            )
            numeric = torch.empty(len(entries), dtype=torch.float64)
            for k, i in enumerate(entries.tolist()):
                original = flat[i].item()
                flat[i] = original + epsilon
                plus = loss().item()
                flat[i] = original - epsilon
                minus = loss().item()
                flat[i] = original
                numeric[k] = (plus - minus) / (2 * epsilon)
            chosen = analytic[entries].cpu()
            scale = chosen.norm() + numeric.norm()
            difference = 0.0 if scale == 0 else ((chosen - numeric).norm() / scale).item()
            results.append((name, difference))
    return results


def check_request(client: Client, check_id: str) -> dict[str, Any]:
    """Run the gradient check the server recorded as `check_id` on a tiny batch; returns the result body."""
    request = client.request("GET", f"/gradcheck/{check_id}")
    assert request is not None
    check = request.json()
    config, dataset = check["config"], str(check["dataset"])
    file = fetch_dataset(client, int(dataset)) if is_uploaded(dataset) else None
    splits = load_splits(dataset, file=file)
    batch = splits.train
    size = min(int(check["batch_size"]), len(batch))
    x, y = torch.from_numpy(batch.x[:size]), torch.from_numpy(batch.y[:size])
    torch.manual_seed(int(config.get("hparams", {}).get("seed", 0)))
    model = build_model(
        config.get("model") or {"name": "mlp"},
        input_shape=splits.info.input_shape,
        n_classes=splits.info.n_classes,
        keep_prob=1.0,
    )
    pairs = gradient_check(model, x, y)
    return {"parameters": [{"name": name, "relative_difference": diff} for name, diff in pairs]}


def run_check(client: Client, check_id: str) -> str:
    """Check and post the result (or the one-line reason it could not run); returns the status."""
    try:
        body = check_request(client, check_id)
    except TrainboardError:
        raise
    except Exception as exc:
        logger.exception("gradient check %s failed", check_id)
        body = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"}
    client.request("PUT", f"/gradcheck/{check_id}/result", json=body)
    return "failed" if "error" in body else "done"


__all__ = ["gradient_check", "run_check"]
