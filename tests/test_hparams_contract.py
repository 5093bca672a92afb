"""The run config is defined once (models/config.py): these tests hold the server, the worker and the client
library to that one definition, so a field or a default cannot drift between them again, and pin what a
config submitted through the API reads back as in the worker, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import trainboard.client
from models import config as schema
from server import datasets as server_datasets
from server import schemas
from trainboard import datasets as shared_datasets
from trainboard.client import Client
from trainboard.settings import get_settings
from worker import optim, runner, train


def test_server_worker_and_client_read_the_one_definition() -> None:
    assert schemas.Hparams is schema.Hparams and schemas.RunConfig is schema.RunConfig
    assert schemas.DEFAULT_DECAY_RATES is schema.DEFAULT_DECAY_RATES
    assert train.Hparams is optim.Hparams is schema.Hparams
    assert runner.RunConfig is schema.RunConfig
    assert trainboard.client.RunConfig is schema.RunConfig and trainboard.client.Hparams is schema.Hparams


def test_the_api_publishes_the_schemas_fields_and_defaults() -> None:
    """What the OpenAPI document (and so the new-run form) offers is the schema the worker trains from."""
    from server.app import create_app

    published = create_app(run_reaper=False).openapi()["components"]["schemas"]["Hparams"]["properties"]
    assert set(published) == set(schema.Hparams.model_fields)
    for field, spec in schema.Hparams.model_fields.items():
        assert published[field].get("default") == spec.get_default(call_default_factory=True), field


def test_each_dataset_has_its_defaults_defined_once() -> None:
    assert (
        set(schema.DATASET_HPARAMS) == set(shared_datasets.DATASETS) == set(server_datasets.BUILTIN_DATASETS)
    )
    for name, info in server_datasets.BUILTIN_DATASETS.items():
        assert info.default_hparams == schema.DATASET_HPARAMS[name]
        schema.Hparams.model_validate(info.default_hparams)  # every default is one the schema accepts
    assert server_datasets.UPLOAD_HPARAMS is schema.UPLOAD_HPARAMS


def api_client(client: TestClient) -> Client:
    return Client(server_url="http://testserver", token="", transport=client._transport)


@pytest.fixture
def wine_project(client: TestClient) -> int:
    response = client.post("/api/v1/projects", json={"name": "contract", "dataset": "wine"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def submit(client: TestClient, project: int, hparams: dict[str, Any]) -> httpx.Response:
    config = {"model": {"name": "mlp", "hidden": [8]}, "hparams": hparams}
    return client.post("/api/v1/runs", json={"project_id": project, "config": config})


def test_what_the_server_resolves_is_what_the_worker_and_client_read(
    client: TestClient, wine_project: int
) -> None:
    created = submit(client, wine_project, {"lr": 0.01, "lr_decay": "step", "precision": "bf16"})
    assert created.status_code == 201, created.text
    config = api_client(client).get_run_config(created.json()["id"])
    assert isinstance(config, schema.RunConfig)
    expected = schema.Hparams(
        **{**schema.DATASET_HPARAMS["wine"], "lr": 0.01, "lr_decay": "step"}, precision="bf16"
    )
    assert config.hparams == expected
    assert config.hparams.effective_decay_rate() == 0.5  # the schedule's own rate, on every side
    assert config.model["hidden"] == [8] and config.dataset_version == 1


def test_a_misspelt_hparam_is_refused_at_submit_naming_it(client: TestClient, wine_project: int) -> None:
    response = submit(client, wine_project, {"learning_rate": 0.01})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "config", "hparams", "learning_rate"]
    assert "Extra inputs are not permitted" in error["msg"]


@pytest.fixture
def cpu_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRAINBOARD_DEVICE", "cpu")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_fp16_is_refused_at_submit_when_workers_train_on_cpu(
    client: TestClient, wine_project: int, cpu_workers: None
) -> None:
    response = submit(client, wine_project, {"precision": "fp16"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "config", "hparams", "precision"]
    assert error["msg"].startswith("fp16 trains only on a CUDA device")
    assert submit(client, wine_project, {"precision": "bf16"}).status_code == 201


def test_a_config_stored_before_a_field_existed_still_loads() -> None:
    stored = {"model": {"name": "mlp"}, "hparams": {"epochs": 3, "lr": 0.01, "lr_decay": "exponential"}}
    config = schema.RunConfig.from_stored(stored)
    assert config.hparams.precision == "fp32" and config.hparams.effective_decay_rate() == 0.95
    assert schema.RunConfig.from_stored(None) == schema.RunConfig()  # an external run has no config


def test_a_stored_field_this_worker_does_not_know_fails_the_run_by_name() -> None:
    with pytest.raises(
        schema.RunConfigError, match=r"hparams\.warmup_epochs, which this worker does not know"
    ):
        schema.RunConfig.from_stored({"hparams": {"warmup_epochs": 3}})
    with pytest.raises(schema.RunConfigError, match=r"bad hparams\.precision"):
        schema.RunConfig.from_stored({"hparams": {"precision": "fp8"}})
