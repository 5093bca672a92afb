"""Numerical gradient checking: backprop's gradient against central differences, in float64."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from models import build_model
from models.config import RunConfig
from trainboard.client import Client, TrainboardError
from trainboard.datasets import load_splits
from worker.dataset_cache import fetch_dataset, is_uploaded

logger = logging.getLogger(__name__)

EPSILON = 1e-6
#: Entries checked per parameter tensor; larger tensors get a fixed random sample of them.
MAX_ENTRIES = 64

#: Functions with a kink where their input is 0 (the derivative jumps there).
_RECTIFIERS = frozenset(
    {
        torch.relu,
        torch.relu_,
        torch.Tensor.relu,
        torch.Tensor.relu_,
        F.relu,
        F.relu_,
        F.leaky_relu,
        F.leaky_relu_,
    }
)
#: Max-pools, which have a kink wherever two inputs of a window tie; each with its twin that returns indices.
_MAX_POOLS: dict[Callable[..., Any], Callable[..., Any]] = {
    F.max_pool1d: F.max_pool1d_with_indices,
    F.max_pool2d: F.max_pool2d_with_indices,
    F.max_pool3d: F.max_pool3d_with_indices,
    torch.max_pool1d: F.max_pool1d_with_indices,
    torch.max_pool2d: F.max_pool2d_with_indices,
    torch.max_pool3d: F.max_pool3d_with_indices,
}


class KinkSides(TorchFunctionMode):
    """Records which side of every kink a forward pass lands on: the sign of each rectifier's input and
    the winner of each max-pool window. Two passes with equal records ran on one smooth piece."""

    def __init__(self) -> None:
        super().__init__()
        self.sides: list[torch.Tensor] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in _RECTIFIERS:
            self.sides.append((args[0] if args else kwargs["input"]) > 0)  # before an in-place variant runs
        elif func in _MAX_POOLS:
            options = {key: value for key, value in kwargs.items() if key != "return_indices"}
            self.sides.append(_MAX_POOLS[func](*args[:6], **options)[1])
        return func(*args, **kwargs)


@dataclass(frozen=True)
class TensorCheck:
    """One parameter tensor's check: the relative difference over the entries that could be checked."""

    name: str
    size: int  # entries in the tensor
    checked: int  # entries whose backprop gradient was compared with a central difference
    skipped: int  # entries whose ±epsilon step crossed a kink, so no difference there is a derivative
    relative_difference: float | None  # ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||)


def _same_piece(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def gradient_check(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epsilon: float = EPSILON,
    max_entries: int = MAX_ENTRIES,
    seed: int = 0,
) -> list[TensorCheck]:
    """Per parameter tensor, backprop's gradient against central differences on up to `max_entries` entries.

    The model is turned to float64 and eval mode (no dropout, batch norm on running statistics), so the
    cross-entropy on (x, y) is a deterministic function of the weights. An entry whose +epsilon or
    -epsilon step moves a ReLU input across 0 or changes a max-pool's winner is skipped (and another drawn
    in its place, up to `max_entries` more): the loss has a kink inside that step, where the difference
    quotient averages two slopes and backprop (rightly) reports one. Around 1e-7 is right; above 1e-3
    there is a bug in the backward pass.
    """
    model = model.double().eval()
    x = x.double()

    def loss() -> tuple[float, list[torch.Tensor]]:
        recorder = KinkSides()
        with recorder:
            value = F.cross_entropy(model(x), y).item()
        return value, recorder.sides

    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    generator = torch.Generator().manual_seed(seed)
    results = []
    with torch.no_grad():
        _, base = loss()
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            flat = param.data.view(-1)
            analytic = torch.zeros_like(flat) if param.grad is None else param.grad.reshape(-1)
            count = flat.numel()
            order = (
                torch.arange(count) if count <= max_entries else torch.randperm(count, generator=generator)
            )
            checked: list[int] = []
            numeric: list[float] = []
            skipped = 0
            for i in order[: 2 * max_entries].tolist():
                original = flat[i].item()
                flat[i] = original + epsilon
                plus, plus_sides = loss()
                flat[i] = original - epsilon
                minus, minus_sides = loss()
                flat[i] = original
                if not (_same_piece(base, plus_sides) and _same_piece(base, minus_sides)):
                    skipped += 1
                    continue
                checked.append(i)
                numeric.append((plus - minus) / (2 * epsilon))
                if len(checked) == max_entries:
                    break
            results.append(
                TensorCheck(name, count, len(checked), skipped, _relative(analytic, checked, numeric))
            )
    return results


def _relative(analytic: torch.Tensor, entries: list[int], numeric: list[float]) -> float | None:
    if not entries:
        return None
    chosen = analytic[entries].cpu()
    estimate = torch.tensor(numeric, dtype=torch.float64)
    scale = chosen.norm() + estimate.norm()
    return 0.0 if scale == 0 else ((chosen - estimate).norm() / scale).item()


def check_request(client: Client, check_id: str) -> dict[str, Any]:
    """Run the gradient check the server recorded as `check_id` on a tiny batch; returns the result body."""
    request = client.request("GET", f"/gradcheck/{check_id}")
    assert request is not None
    check = request.json()
    config, dataset = RunConfig.from_stored(check["config"]), str(check["dataset"])
    file = fetch_dataset(client, int(dataset)) if is_uploaded(dataset) else None
    splits = load_splits(dataset, file=file)
    batch = splits.train
    size = min(int(check["batch_size"]), len(batch))
    x, y = torch.from_numpy(batch.x[:size]), torch.from_numpy(batch.y[:size])
    torch.manual_seed(config.hparams.seed)
    model = build_model(
        config.model or {"name": "mlp"},
        input_shape=splits.info.input_shape,
        n_classes=splits.info.n_classes,
        keep_prob=1.0,
    )
    checks = gradient_check(model, x, y)
    return {"epsilon": EPSILON, "parameters": [dataclasses.asdict(check) for check in checks]}


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


__all__ = ["KinkSides", "TensorCheck", "gradient_check", "run_check"]
