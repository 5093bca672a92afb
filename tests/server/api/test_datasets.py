"""Dataset uploads: every validation rule refuses a bad file with a 4xx naming the field; good ones store."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.dataset_files import csv_bytes, good_npz, image_zip, npz_bytes, png_bytes, zip_bytes
from trainboard.settings import get_settings

URL = "/api/v1/datasets"


def upload(client: TestClient, data: bytes, filename: str = "data.npz", **fields: str):  # type: ignore[no-untyped-def]
    form = {"name": "ds", **fields}
    return client.post(URL, data=form, files={"file": (filename, data, "application/octet-stream")})


def refusal(response) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    detail = response.json()["detail"]
    if isinstance(detail, str):
        return [], detail
    return [str(part) for part in detail[0]["loc"]], detail[0]["msg"]


def test_upload_npz_is_stored_with_checksum_and_usable_by_a_project(client: TestClient) -> None:
    split = np.array(["train"] * 24 + ["train_dev"] * 4 + ["dev"] * 6 + ["test"] * 6)
    ids = np.array([f"ex-{i}" for i in range(40)])
    response = upload(client, good_npz(split=split, example_ids=ids), name="blobs")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["source"] == "npz"
    assert dataset["kind"] == "tabular"
    assert dataset["input_shape"] == [5]
    assert (dataset["n_classes"], dataset["n_examples"], dataset["has_splits"]) == (3, 40, True)
    assert dataset["classes"] == ["0", "1", "2"]

    file = client.get(f"{URL}/{dataset['id']}/file")
    assert file.status_code == 200
    assert hashlib.sha256(file.content).hexdigest() == dataset["sha256"] == file.headers["x-checksum-sha256"]
    with np.load(io.BytesIO(file.content), allow_pickle=False) as arrays:
        assert arrays["x"].dtype == np.float32
        assert arrays["example_ids"][0] == "ex-0"

    catalog = {entry["id"]: entry for entry in client.get(URL).json()}
    assert catalog["digits"]["source"] == "builtin"
    assert catalog[str(dataset["id"])]["name"] == "blobs"

    project = client.post("/api/v1/projects", json={"name": "p", "dataset": str(dataset["id"])})
    assert project.status_code == 201, project.text
    run = client.post("/api/v1/runs", json={"project_id": project.json()["id"], "config": {}})
    assert run.status_code == 201, run.text
    assert run.json()["config"]["model"]["name"] == "mlp"
    cnn = client.post(
        "/api/v1/runs", json={"project_id": project.json()["id"], "config": {"model": {"name": "lenet5"}}}
    )
    assert cnn.status_code == 422
    assert "needs image data, but the dataset is tabular" in cnn.text


def test_upload_csv_with_string_labels_and_named_label_column(client: TestClient) -> None:
    response = upload(client, csv_bytes(label="animal"), "pets.txt", label_column="animal")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["source"], body["kind"], body["input_shape"], body["classes"]) == (
        "csv",
        "tabular",
        [2],
        ["cat", "dog"],
    )


def test_upload_zip_of_class_folders_under_one_top_folder(client: TestClient) -> None:
    response = upload(client, image_zip(prefix="shapes/"), "shapes.zip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["source"], body["kind"], body["input_shape"]) == ("images", "image", [1, 8, 8])
    assert body["classes"] == ["circle", "square"]


def test_upload_zip_of_mixed_sizes_is_resized_to_declared_size(client: TestClient) -> None:
    data = zip_bytes(
        {
            **{f"a/{i}.png": png_bytes((8, 8)) for i in range(5)},
            **{f"b/{i}.png": png_bytes((12, 10), mode="RGB") for i in range(5)},
        }
    )
    assert upload(client, data, "x.zip").status_code == 422
    response = upload(client, data, "x.zip", image_size="6x4")
    assert response.status_code == 201, response.text
    assert response.json()["input_shape"] == [3, 4, 6]


def test_read_and_delete_dataset(client: TestClient) -> None:
    dataset = upload(client, good_npz(), name="gone").json()
    assert client.get(f"{URL}/{dataset['id']}").json()["name"] == "gone"
    assert client.get(f"{URL}/uploaded").json()["total"] == 1
    assert client.delete(f"{URL}/{dataset['id']}").status_code == 204
    missing = client.get(f"{URL}/{dataset['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Dataset {dataset['id']} not found"
    assert client.get(f"{URL}/{dataset['id']}/file").status_code == 404


def test_delete_dataset_in_use_is_refused(client: TestClient) -> None:
    dataset = upload(client, good_npz(), name="used").json()
    client.post("/api/v1/projects", json={"name": "user", "dataset": str(dataset["id"])})
    response = client.delete(f"{URL}/{dataset['id']}")
    assert response.status_code == 409
    assert "used by project 'user'" in response.json()["detail"]


def test_duplicate_name_is_a_conflict(client: TestClient) -> None:
    assert upload(client, good_npz(), name="twice").status_code == 201
    response = upload(client, good_npz(), name="twice")
    assert response.status_code == 409
    assert response.json()["detail"] == "A dataset named 'twice' already exists"


def test_unknown_dataset_id_in_project_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/projects", json={"name": "p", "dataset": "999"})
    assert response.status_code == 422
    assert "Unknown dataset '999'" in response.json()["detail"][0]["msg"]


ONE_BY_ONE = np.arange(40) % 2
BAD_FILES = {
    # name: (bytes, filename, extra fields, status, field, message fragment)
    "npy instead of npz": (b"\x93NUMPY\x01\x00" + b"0" * 100, "x.npz", {}, 422, "file", "single .npy array"),
    "png named csv": (png_bytes(), "data.csv", {}, 422, "file", "single PNG image"),
    "gzip": (b"\x1f\x8b\x08" + b"\x00" * 50, "data.csv", {}, 422, "file", "gzip-compressed"),
    "binary junk": (bytes(range(256)) * 4, "data.csv", {}, 422, "file", "not a dataset"),
    "damaged zip": (b"PK\x03\x04" + b"\x00" * 100, "d.zip", {}, 422, "file", "damaged zip"),
    "object array": (
        npz_bytes(X=np.array([{"a": 1}] * 20, dtype=object), y=np.arange(20) % 2),
        "o.npz",
        {},
        422,
        "X",
        "holds Python objects",
    ),
    "no y": (npz_bytes(X=np.zeros((20, 3))), "n.npz", {}, 422, "file", "no array 'y'"),
    "no X": (npz_bytes(y=np.arange(20) % 2), "n.npz", {}, 422, "file", "no array 'X'"),
    "unknown array": (
        npz_bytes(X=np.zeros((20, 3)), y=np.arange(20) % 2, extra=np.zeros(3)),
        "n.npz",
        {},
        422,
        "file",
        "unexpected arrays ['extra']",
    ),
    "lengths differ": (
        npz_bytes(X=np.zeros((20, 3)), y=np.arange(5) % 2),
        "n.npz",
        {},
        422,
        "y",
        "has 5 labels for 20 examples",
    ),
    "one class": (npz_bytes(X=np.zeros((20, 3)), y=np.zeros(20)), "n.npz", {}, 422, "y", "but has 1"),
    "too many classes": (
        npz_bytes(X=np.zeros((1001, 2)), y=np.arange(1001)),
        "n.npz",
        {},
        422,
        "y",
        "between 2 and 1000 classes, but has 1001",
    ),
    "2-d labels": (
        npz_bytes(X=np.zeros((20, 3)), y=np.zeros((20, 2))),
        "n.npz",
        {},
        422,
        "y",
        "one-dimensional",
    ),
    "fractional labels": (
        npz_bytes(X=np.zeros((20, 3)), y=np.linspace(0, 1, 20)),
        "n.npz",
        {},
        422,
        "y",
        "whole numbers",
    ),
    "string features": (
        npz_bytes(X=np.array([["a"]] * 20), y=np.arange(20) % 2),
        "n.npz",
        {},
        422,
        "X",
        "features must be numbers",
    ),
    "nan features": (
        npz_bytes(X=np.full((20, 3), np.nan), y=np.arange(20) % 2),
        "n.npz",
        {},
        422,
        "X",
        "NaN or infinite",
    ),
    "too few examples": (
        npz_bytes(X=np.zeros((4, 3)), y=np.arange(4) % 2),
        "n.npz",
        {},
        422,
        "X",
        "at least 10",
    ),
    "five dimensions": (
        npz_bytes(X=np.zeros((20, 1, 1, 1, 1)), y=np.arange(20) % 2),
        "n.npz",
        {},
        422,
        "X",
        "must have 2 (tabular), 3 or 4",
    ),
    "bad split name": (
        good_npz(split=np.array(["train", "validation"] * 20)),
        "n.npz",
        {},
        422,
        "split",
        "unknown split names ['validation']",
    ),
    "no train split": (
        good_npz(split=np.array(["dev"] * 40)),
        "n.npz",
        {},
        422,
        "split",
        "no example is in the train",
    ),
    "duplicate ids": (
        good_npz(example_ids=np.array(["same"] * 40)),
        "n.npz",
        {},
        422,
        "example_ids",
        "must be unique",
    ),
    "csv without label": (csv_bytes(label="kind"), "c.csv", {}, 422, "label_column", "no column 'label'"),
    "csv not a number": (
        b"a,label\n1,x\n2,y\nfoo,x\n" + b"1,y\n" * 10,
        "c.csv",
        {},
        422,
        "file",
        "line 4, column 'a': 'foo' is not a number",
    ),
    "csv ragged": (b"a,b,label\n1,2,x\n1,y\n", "c.csv", {}, 422, "file", "line 3 has 2 fields"),
    "csv empty": (b"\n", "c.csv", {}, 422, "file", "empty"),
    "zip with ..": (zip_bytes({"a/../../evil.png": png_bytes()}), "z.zip", {}, 422, "file", "contains '..'"),
    "zip absolute": (zip_bytes({"/etc/a/b.png": png_bytes()}), "z.zip", {}, 422, "file", "absolute"),
    "zip symlink": (
        zip_bytes({"a/1.png": png_bytes()}, symlink="b/link.png"),
        "z.zip",
        {},
        422,
        "file",
        "symbolic",
    ),
    "zip not an image": (
        zip_bytes({"a/1.png": png_bytes(), "b/2.png": b"hello"}),
        "z.zip",
        {},
        422,
        "file",
        "'b/2.png' is not a PNG or JPEG",
    ),
    "zip undecodable image": (
        zip_bytes({"a/1.png": png_bytes(), "b/2.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40}),
        "z.zip",
        {},
        422,
        "file",
        "'b/2.png' cannot be decoded",
    ),
    "zip sizes differ": (
        zip_bytes({**{f"a/{i}.png": png_bytes() for i in range(5)}, "b/x.png": png_bytes((9, 9))}),
        "z.zip",
        {},
        422,
        "file",
        "'b/x.png' is 9x9, the first image 8x8",
    ),
    "zip loose file": (
        zip_bytes({"a/b/c/d.png": png_bytes()}),
        "z.zip",
        {},
        422,
        "file",
        "not in a class folder",
    ),
    "zip empty": (zip_bytes({"a/.DS_Store": b"x"}), "z.zip", {}, 422, "file", "holds no images"),
    "digits-only name": (good_npz(), "n.npz", {"name": "123"}, 422, "name", "pattern"),
    "bad image_size": (image_zip(), "z.zip", {"image_size": "big"}, 422, "image_size", "pattern"),
    "zero image_size": (image_zip(), "z.zip", {"image_size": "0x4"}, 422, "image_size", "between 1 and 1024"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_upload_is_refused_naming_the_field(client: TestClient, case: str) -> None:
    data, filename, fields, status, field, fragment = BAD_FILES[case]
    response = upload(client, data, filename, **fields)
    assert response.status_code == status, response.text
    loc, message = refusal(response)
    assert loc[-1] == field
    assert fragment in message
    assert client.get(f"{URL}/uploaded").json()["total"] == 0


def test_upload_over_size_limit_is_refused_while_streaming(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(get_settings(), "max_upload_mb", 0.01)
    response = upload(client, good_npz(n=2000), "big.npz")
    assert response.status_code == 413
    assert "larger than the 0 MiB limit" in response.json()["detail"]

    def body():  # type: ignore[no-untyped-def]
        # No Content-Length: the server must count the bytes itself.
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        for _ in range(100):
            yield b"0" * 1024
        yield b"\r\n--x--\r\n"

    streamed = client.post(URL, content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413


def test_zip_bomb_is_refused_before_decompressing(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(get_settings(), "max_uncompressed_mb", 1)
    bomb = zip_bytes({f"a/{i}.png": b"\x00" * (600 * 1024) for i in range(2)})
    assert len(bomb) < 10_000
    response = upload(client, bomb, "bomb.zip")
    assert response.status_code == 413
    loc, message = refusal(response)
    assert loc[-1] == "file" and "uncompressed-size limit" in message


def test_zip_with_too_many_files_is_refused(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(get_settings(), "max_dataset_files", 5)
    response = upload(client, image_zip(per_class=3), "many.zip")
    assert response.status_code == 422
    assert "holds 6 files; at most 5" in refusal(response)[1]


def test_upload_without_file_or_name_names_the_field(client: TestClient) -> None:
    no_file = client.post(URL, data={"name": "x"}, files={"other": ("a", b"b")})
    assert no_file.status_code == 422
    assert refusal(no_file) == (["body", "file"], "no file was sent in the 'file' field")
    no_name = client.post(URL, files={"file": ("a.npz", good_npz())})
    assert no_name.status_code == 422
    assert refusal(no_name)[0] == ["body", "name"]
    json_body = client.post(URL, json={"name": "x"})
    assert json_body.status_code == 422
    assert "multipart/form-data" in refusal(json_body)[1]


def test_csv_with_invalid_utf8_past_the_first_bytes_is_refused(client: TestClient) -> None:
    # Found by schemathesis: the sniffer read only the start, and the parser raised a 500.
    body = b"a,label\n" + b"1,0\n" * 10 + b"\xfa\xfb,1\n"
    response = client.post("/api/v1/datasets", data={"name": "bad-bytes"}, files={"file": ("x.csv", body)})
    assert response.status_code in (400, 422)
    assert "UTF-8" in str(response.json()["detail"])
