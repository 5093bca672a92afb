"""Uploads that decode far larger than they are: refused (413, naming the file and the limit) from their
headers and row counts, before their arrays are allocated. Issue 21's bombs, scaled down with the limit."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image, ImageFile

from tests.dataset_files import npz_bytes, zip_bytes
from trainboard.settings import get_settings

URL = "/api/v1/datasets"
MIB = 1024 * 1024
SetLimit = Callable[[float], None]


def upload(client: TestClient, data: bytes, filename: str):
    return client.post(
        URL, data={"name": "bomb"}, files={"file": (filename, data, "application/octet-stream")}
    )


def refused_for_size(response: Response) -> str:
    assert response.status_code == 413, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "file"]
    return str(detail["msg"])


def single_colour_pngs(count: int, side: int) -> bytes:
    png = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(png, format="PNG")
    return zip_bytes({f"{'ab'[i % 2]}/{i}.png": png.getvalue() for i in range(count)})


@pytest.fixture
def decoded_limit_mb(monkeypatch: pytest.MonkeyPatch) -> SetLimit:
    def set_limit(megabytes: float) -> None:
        monkeypatch.setattr(get_settings(), "max_decoded_mb", megabytes)

    return set_limit


def test_npz_counts_int8_features_at_the_float32_size_they_become(
    client: TestClient, decoded_limit_mb: SetLimit
) -> None:
    rows = 4096
    bomb = npz_bytes(X=np.zeros((rows, 256), np.int8), y=(np.arange(rows) % 2).astype(np.int8))
    decoded_limit_mb(2)  # X holds 1 MiB as stored, 4 MiB as float32
    message = refused_for_size(upload(client, bomb, "bomb.npz"))
    assert "X: 1,048,576 values as float32" in message
    assert "2 MiB limit (TRAINBOARD_MAX_DECODED_MB)" in message
    decoded_limit_mb(8)
    accepted = upload(client, bomb, "bomb.npz")
    assert accepted.status_code == 201, accepted.text


def test_zip_of_images_is_bounded_by_its_headers_before_any_is_decoded(
    client: TestClient, decoded_limit_mb: SetLimit, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = single_colour_pngs(40, 256)  # 40 x 3 x 256 x 256 bytes = 7.5 MiB of pixels, a few KB zipped
    assert len(bomb) < 50_000
    decoded_limit_mb(4)

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("an image was decoded before the size check")

    with monkeypatch.context() as patched:
        patched.setattr(ImageFile.ImageFile, "load", no_decoding)
        message = refused_for_size(upload(client, bomb, "bomb.zip"))
    assert "40 images of 256x256 pixels x 3 channels" in message
    assert "4 MiB limit" in message
    decoded_limit_mb(16)
    assert upload(client, bomb, "bomb.zip").status_code == 201


def test_csv_is_bounded_by_its_rows_times_columns(client: TestClient, decoded_limit_mb: SetLimit) -> None:
    header = "label," + ",".join(f"f{i}" for i in range(100))
    bomb = ("\n".join([header] + [f"{i % 2}," + ",".join(["0"] * 100) for i in range(2000)]) + "\n").encode()
    assert len(bomb) < MIB // 2  # smaller than the limit as sent; 2,000 x 100 float32 = 0.8 MB decoded
    decoded_limit_mb(0.5)
    message = refused_for_size(upload(client, bomb, "bomb.csv"))
    assert "rows x 100 features as float32" in message
    decoded_limit_mb(2)
    assert upload(client, bomb, "bomb.csv").status_code == 201


def test_csv_with_a_field_beyond_the_csv_modules_limit_is_a_422(client: TestClient) -> None:
    body = b"a,label\n" + b"1" * 200_000 + b",x\n"
    response = upload(client, body, "long.csv")
    assert response.status_code == 422, response.text
    assert "field larger than field limit" in response.json()["detail"][0]["msg"]
