"""The run config is defined twice (server/schemas.py for the API and the form, worker/hparams.py for
training): these tests hold the two equal where they overlap, so a default cannot drift unnoticed."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from server import schemas
from worker import hparams as worker_hparams

SHARED_FIELDS = sorted(
    set(schemas.Hparams.model_fields) & {f.name for f in dataclasses.fields(worker_hparams.Hparams)}
)


def test_the_two_definitions_share_the_training_fields() -> None:
    worker_only = {f.name for f in dataclasses.fields(worker_hparams.Hparams)} - set(
        schemas.Hparams.model_fields
    )
    assert worker_only == set(), "every field the worker reads must be settable through the API"
    assert {"lr", "lr_decay", "decay_rate", "decay_steps"} <= set(SHARED_FIELDS)


@pytest.mark.parametrize("field", SHARED_FIELDS)
def test_server_and_worker_defaults_are_equal(field: str) -> None:
    server_default = schemas.Hparams.model_fields[field].get_default(call_default_factory=True)
    worker_default = {f.name: f.default for f in dataclasses.fields(worker_hparams.Hparams)}[field]
    assert server_default == worker_default


def test_server_and_worker_know_the_same_schedules_and_their_rates() -> None:
    assert get_args(schemas.Hparams.model_fields["lr_decay"].annotation) == worker_hparams.LR_DECAYS
    assert schemas.DEFAULT_DECAY_RATES == worker_hparams.DEFAULT_DECAY_RATES


@pytest.mark.parametrize("lr_decay", worker_hparams.LR_DECAYS)
@pytest.mark.parametrize("decay_rate", [None, 0.3])
def test_a_decay_rate_resolves_alike_on_both_sides(lr_decay: str, decay_rate: float | None) -> None:
    server = schemas.Hparams(lr_decay=lr_decay, decay_rate=decay_rate)  # type: ignore[arg-type]
    worker = worker_hparams.Hparams.from_dict(server.model_dump())  # what the worker gets from the server
    assert worker.effective_decay_rate() == server.effective_decay_rate()
