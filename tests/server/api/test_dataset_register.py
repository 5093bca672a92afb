"""Registering a torchvision-format MNIST or CIFAR-10 folder: small synthetic files in the real formats."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

URL = "/api/v1/datasets/register"


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST's idx format: 0x0000 0x08 (ubyte) ndim, then big-endian sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, *, n_train: int = 24, n_test: int = 12, gz: bool = False) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files = {
            f"{prefix}-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, size=(n, 28, 28))),
            f"{prefix}-labels-idx1-ubyte": idx_bytes(np.arange(n) % 10),
        }
        for name, data in files.items():
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return root


def write_cifar(root: Path, per_batch: int = 4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in np.arange(per_batch) % 10],
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root


class Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch /tmp/trainboard-pwned",))


def test_register_mnist_folder(client: TestClient, tmp_path: Path) -> None:
    root = write_mnist(tmp_path / "data", gz=True)
    response = client.post(URL, json={"path": str(root), "format": "mnist", "name": "my mnist"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["source"], body["kind"], body["input_shape"]) == ("mnist", "image", [1, 28, 28])
    assert (body["n_examples"], body["n_classes"], body["has_splits"]) == (36, 10, True)


def test_register_cifar10_folder(client: TestClient, tmp_path: Path) -> None:
    root = write_cifar(tmp_path / "data")
    response = client.post(URL, json={"path": str(root), "format": "cifar10"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "cifar10-data"
    assert (body["input_shape"], body["n_examples"]) == ([3, 32, 32], 24)
    assert body["classes"][:2] == ["airplane", "automobile"]


def test_register_cifar_pickle_with_code_is_refused(client: TestClient, tmp_path: Path) -> None:
    root = write_cifar(tmp_path / "data")
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({b"data": Exploit()}))
    response = client.post(URL, json={"path": str(root), "format": "cifar10"})
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert message.startswith("data_batch_3 is not a CIFAR-10 batch: ")
    assert "system is not allowed in a CIFAR-10 batch" in message
    assert not Path("/tmp/trainboard-pwned").exists()


def test_register_refuses_missing_or_damaged_files(client: TestClient, tmp_path: Path) -> None:
    missing = client.post(URL, json={"path": str(tmp_path / "nope"), "format": "mnist"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "path"]
    relative = client.post(URL, json={"path": "data", "format": "mnist"})
    assert "absolute path" in relative.json()["detail"][0]["msg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    response = client.post(URL, json={"path": str(empty), "format": "mnist"})
    assert response.status_code == 422
    assert "train-images-idx3-ubyte not found" in response.json()["detail"][0]["msg"]
    root = write_mnist(tmp_path / "bad")
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    damaged = client.post(URL, json={"path": str(root), "format": "mnist"})
    assert damaged.status_code == 422
    assert "declares shape (5,) but holds 2 bytes" in damaged.json()["detail"][0]["msg"]
    unknown = client.post(URL, json={"path": str(root), "format": "imagenet"})
    assert unknown.status_code == 422
