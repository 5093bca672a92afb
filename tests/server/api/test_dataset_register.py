"""Registering a torchvision-format MNIST or CIFAR-10 folder: small synthetic files in the real formats."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from trainboard.settings import get_settings

URL = "/api/v1/datasets/register"


def allow_roots(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    """Set TRAINBOARD_DATASET_ROOTS (None: unset, the default) and make the settings read it again."""
    if value is None:
        monkeypatch.delenv("TRAINBOARD_DATASET_ROOTS", raising=False)
    else:
        monkeypatch.setenv("TRAINBOARD_DATASET_ROOTS", value)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def allowed_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Registration may read the test's own folder (the tests below that need other roots set their own)."""
    allow_roots(monkeypatch, str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("TRAINBOARD_DATASET_ROOTS", raising=False)
    get_settings.cache_clear()


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
    nul = client.post(URL, json={"path": f"{tmp_path}/a\u0000b", "format": "mnist"})
    assert (nul.status_code, nul.json()["detail"][0]["loc"]) == (422, ["body", "path"])
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    looped = client.post(URL, json={"path": str(loop), "format": "mnist"})
    assert (looped.status_code, looped.json()["detail"][0]["loc"]) == (422, ["body", "path"])


def refusal(response) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    detail = response.json()["detail"][0]
    return detail["loc"], detail["msg"]


def test_register_reads_the_default_import_folder_in_the_data_folder(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    allow_roots(monkeypatch, None)
    inside = write_mnist(get_settings().resolved_home / "datasets-import" / tmp_path.name)
    response = client.post(
        URL, json={"path": str(inside), "format": "mnist", "name": f"default {tmp_path.name}"}
    )
    assert response.status_code == 201, response.text
    # ... and nothing else: the test's own folder is no longer allowed.
    loc, message = refusal(
        client.post(URL, json={"path": str(write_mnist(tmp_path / "x")), "format": "mnist"})
    )
    assert loc == ["body", "path"]
    assert "TRAINBOARD_DATASET_ROOTS" in message


def test_register_refuses_dot_dot_out_of_the_allowed_root(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "allowed").mkdir()
    write_mnist(tmp_path / "outside")
    allow_roots(monkeypatch, str(tmp_path / "allowed"))
    loc, message = refusal(
        client.post(URL, json={"path": str(tmp_path / "allowed" / ".." / "outside"), "format": "mnist"})
    )
    assert loc == ["body", "path"]
    assert message.endswith("add its folder to TRAINBOARD_DATASET_ROOTS")
    assert str(tmp_path / "allowed") in message  # says which folders are allowed


def test_register_refuses_symlinks_that_leave_the_allowed_root(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = write_mnist(tmp_path / "outside")
    allow_roots(monkeypatch, str(allowed))
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    loc, _ = refusal(client.post(URL, json={"path": str(allowed / "link"), "format": "mnist"}))
    assert loc == ["body", "path"]
    # A real folder inside whose files (or subfolders) link out is refused too, naming the link.
    inside = write_mnist(allowed / "data")
    images = inside / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.unlink()
    images.symlink_to(outside / "MNIST" / "raw" / "train-images-idx3-ubyte")
    _, message = refusal(client.post(URL, json={"path": str(inside), "format": "mnist"}))
    assert message.startswith("MNIST/raw/train-images-idx3-ubyte links outside")
    (allowed / "linked").mkdir()
    (allowed / "linked" / "MNIST").symlink_to(outside / "MNIST", target_is_directory=True)
    _, message = refusal(client.post(URL, json={"path": str(allowed / "linked"), "format": "mnist"}))
    assert message.startswith("MNIST links outside")
    (allowed / "looped").mkdir()
    (allowed / "looped" / "raw").symlink_to(allowed / "looped" / "raw")
    _, message = refusal(client.post(URL, json={"path": str(allowed / "looped"), "format": "mnist"}))
    assert message.startswith("raw links outside")
    assert client.get("/api/v1/datasets/uploaded").json()["total"] == 0


def test_register_refuses_unrelated_folders_without_saying_whether_they_exist(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    allow_roots(monkeypatch, str(tmp_path / "allowed"))
    existing = refusal(client.post(URL, json={"path": "/etc", "format": "mnist"}))
    missing = refusal(client.post(URL, json={"path": "/no-such-folder-here", "format": "mnist"}))
    assert existing[0] == missing[0] == ["body", "path"]
    assert existing[1].replace("/etc", "X") == missing[1].replace("/no-such-folder-here", "X")


def test_register_is_off_when_no_root_is_allowed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_roots(monkeypatch, "")
    loc, message = refusal(client.post(URL, json={"path": "/tmp", "format": "cifar10"}))
    assert (loc, message) == (
        ["body", "path"],
        "folder registration is off; set TRAINBOARD_DATASET_ROOTS to allow it",
    )


def test_register_a_home_folder_of_no_user_is_a_422_naming_path(client: TestClient) -> None:
    response = client.post(URL, json={"path": "~nosuchuser-trainboard", "format": "mnist"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "path"]
    assert detail["msg"] == "~nosuchuser-trainboard names no home folder on the server"
