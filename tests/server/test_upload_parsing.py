"""The upload parsers stream into their final arrays (bounded by the decoded-size limit): what they read
must be what numpy and PIL read whole, in every layout a user's file may have."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.uploads import DatasetFileError, Limits, parse_csv, parse_image_zip, parse_npz
from tests.dataset_files import npz_bytes, png_bytes, zip_bytes

MIB = 1024 * 1024
LIMITS = Limits(
    max_bytes=10 * MIB, max_uncompressed_bytes=10 * MIB, max_files=100, max_decoded_bytes=10 * MIB
)
LABELS = np.arange(20) % 2


def write(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_npz_images_stored_channels_last_become_channels_first(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(20, 6, 5, 3), dtype=np.uint8)  # (N, H, W, C)
    parsed = parse_npz(write(tmp_path, npz_bytes(X=x, y=LABELS)), limits=LIMITS)
    assert parsed.x.dtype == np.uint8
    np.testing.assert_array_equal(parsed.x, x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("dtype", [np.int8, np.float64, np.float16, np.bool_])
def test_npz_features_become_float32_of_the_same_values(tmp_path: Path, dtype: type) -> None:
    x = (np.random.default_rng(1).normal(size=(20, 7)) * 50).astype(dtype)
    parsed = parse_npz(write(tmp_path, npz_bytes(X=x, y=LABELS)), limits=LIMITS)
    assert parsed.x.dtype == np.float32
    np.testing.assert_array_equal(parsed.x, x.astype(np.float32))


def test_npz_in_fortran_order_reads_the_same_array(tmp_path: Path) -> None:
    x = np.asfortranarray(np.arange(20 * 4 * 3, dtype=np.float64).reshape(20, 4, 3))
    parsed = parse_npz(write(tmp_path, npz_bytes(X=x, y=LABELS)), limits=LIMITS, kind="sequence")
    np.testing.assert_array_equal(parsed.x, x.astype(np.float32))


def test_npz_values_beyond_float32_are_refused_not_stored_as_infinity(tmp_path: Path) -> None:
    x = np.full((20, 3), 1e300)
    with pytest.raises(DatasetFileError, match="NaN or infinite"):
        parse_npz(write(tmp_path, npz_bytes(X=x, y=LABELS)), limits=LIMITS)


def test_npz_shorter_than_its_header_is_refused_naming_the_array(tmp_path: Path) -> None:
    whole = npz_bytes(X=np.ones((20, 3)), y=LABELS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(whole)) as source, zipfile.ZipFile(buffer, "w") as target:
        target.writestr("X.npy", source.read("X.npy")[:-8])
        target.writestr("y.npy", source.read("y.npy"))
    with pytest.raises(DatasetFileError, match="fewer values than its shape") as refused:
        parse_npz(write(tmp_path, buffer.getvalue()), limits=LIMITS)
    assert refused.value.field == "X"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_reads_every_kind_of_line_end(tmp_path: Path, newline: str) -> None:
    lines = ["a,b,label,split,example_id"] + [
        f"{i},{i / 4},{i % 11},{'dev' if i % 5 == 0 else 'train'},row-{i}" for i in range(30)
    ]
    parsed = parse_csv(write(tmp_path, newline.join(lines).encode()), limits=LIMITS)
    np.testing.assert_array_equal(parsed.x, np.array([[i, i / 4] for i in range(30)], np.float32))
    assert parsed.classes == [str(c) for c in range(11)]  # "10" after "9": labels that are numbers
    assert [parsed.classes[code] for code in parsed.y] == [str(i % 11) for i in range(30)]
    assert parsed.split is not None and parsed.split.tolist()[:2] == ["dev", "train"]
    assert parsed.example_ids.tolist()[-1] == "row-29"


def test_csv_rows_past_one_block_keep_their_order(tmp_path: Path) -> None:
    rows = 70_000  # more than a block of two features
    text = "a,b,label\n" + "".join(f"{i},{-i},{'yes' if i % 3 else 'no'}\n" for i in range(rows))
    parsed = parse_csv(write(tmp_path, text.encode()), limits=LIMITS)
    np.testing.assert_array_equal(parsed.x[:, 0], np.arange(rows, dtype=np.float32))
    assert parsed.classes == ["no", "yes"]
    assert parsed.y[:3].tolist() == [0, 1, 1]


def test_zip_images_decode_as_pil_does_and_resize_to_a_declared_size(tmp_path: Path) -> None:
    grey = png_bytes((8, 6), value=90)
    colour = png_bytes((10, 4), value=30, mode="RGB")
    members = {**{f"a/{i}.png": grey for i in range(5)}, **{f"b/{i}.png": colour for i in range(5)}}
    parsed = parse_image_zip(write(tmp_path, zip_bytes(members)), limits=LIMITS, image_size=(8, 6))
    assert parsed.x.shape == (10, 3, 6, 8)
    expected = np.asarray(Image.open(io.BytesIO(colour)).resize((8, 6)).convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(parsed.x[9], expected)
    assert parsed.classes == ["a", "b"]
