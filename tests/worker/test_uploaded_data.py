"""A worker fetches an uploaded dataset through the API, checks its sha256, caches it and trains on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from models import build_model
from tests.dataset_files import good_npz, image_zip
from trainboard.client import Client
from trainboard.datasets import load_splits
from worker.dataset_cache import ChecksumMismatch, fetch_dataset
from worker.train import fit


class Recorder:
    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_progress(self, progress) -> bool:  # type: ignore[no-untyped-def]
        return True

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs.append(epoch)

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        pass


def api_client(client: TestClient) -> Client:
    return Client(server_url="http://testserver", token="", transport=client._transport)


def upload(client: TestClient, data: bytes, filename: str, name: str) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/datasets", data={"name": name}, files={"file": (filename, data, "application/octet-stream")}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_uploaded_npz_keeps_its_splits_and_ids(client: TestClient, tmp_path: Path) -> None:
    split = np.array(["train"] * 24 + ["train_dev"] * 4 + ["dev"] * 6 + ["test"] * 6)
    ids = np.array([f"ex-{i}" for i in range(40)])
    dataset = upload(client, good_npz(split=split, example_ids=ids), "d.npz", "splits")
    path = fetch_dataset(api_client(client), dataset["id"], cache_dir=tmp_path)
    assert path.name == f"{dataset['sha256']}.npz"
    splits = load_splits(str(dataset["id"]), file=path)
    assert [len(splits.by_name(s)) for s in ("train", "train_dev", "dev", "test")] == [24, 4, 6, 6]
    assert sorted(splits.dev.ids.tolist()) == [f"ex-{i}" for i in range(28, 34)]
    assert splits.info.input_shape == (5,) and splits.info.n_classes == 3
    again = load_splits(str(dataset["id"]), file=path, train_fraction=0.5)
    assert set(again.train.ids) < set(splits.train.ids)
    assert np.allclose(splits.train.x.mean(axis=0), 0, atol=1e-5)


def test_uploaded_images_split_with_fixed_seed_and_train(client: TestClient, tmp_path: Path) -> None:
    dataset = upload(client, image_zip(per_class=10), "s.zip", "shapes")
    path = fetch_dataset(api_client(client), dataset["id"], cache_dir=tmp_path)
    first, second = load_splits("x", file=path), load_splits("x", file=path)
    assert first.train.ids.tolist() == second.train.ids.tolist()
    assert sum(len(first.by_name(s)) for s in ("train", "train_dev", "dev", "test")) == 20
    assert first.train.x.shape[1:] == (1, 8, 8) and first.train.x.dtype == np.float32
    model = build_model({"name": "lenet5"}, input_shape=(1, 8, 8), n_classes=2)
    recorder = Recorder()
    result = fit(model, first, {"epochs": 2, "batch_size": 4}, device=torch.device("cpu"), reporter=recorder)
    assert result.status == "succeeded"
    assert recorder.epochs == [0, 1, 2]


def test_cached_file_is_reused_and_a_bad_download_refused(client: TestClient, tmp_path: Path) -> None:
    dataset = upload(client, good_npz(), "d.npz", "cached")
    api = api_client(client)
    path = fetch_dataset(api, dataset["id"], cache_dir=tmp_path)
    stamp = path.stat().st_mtime_ns
    assert fetch_dataset(api, dataset["id"], cache_dir=tmp_path).stat().st_mtime_ns == stamp
    path.write_bytes(b"damaged")  # a damaged cache entry is fetched again
    assert fetch_dataset(api, dataset["id"], cache_dir=tmp_path).read_bytes() != b"damaged"

    from server.services.datasets import dataset_path

    dataset_path(dataset["id"]).write_bytes(b"tampered on the server")
    with pytest.raises(ChecksumMismatch, match="arrived with sha256"):
        fetch_dataset(api, dataset["id"], cache_dir=tmp_path / "fresh")
    assert not list((tmp_path / "fresh" / "datasets").iterdir())
