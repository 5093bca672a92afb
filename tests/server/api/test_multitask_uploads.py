"""Multi-task uploads: an .npz with Y (N x K, -1 missing) or a CSV with several label columns; a task with
no labelled example or a label outside {0, 1, -1} is refused naming it."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.dataset_files import npz_bytes
from tests.server.api.test_datasets import URL, refusal, upload
from trainboard.datasets import load_splits


def _labels(n: int = 40) -> np.ndarray:
    y = np.stack([np.arange(n) % 2, (np.arange(n) // 2) % 2, np.arange(n) % 3 == 0], axis=1).astype(int)
    y[::4, 1] = -1
    return y


def test_an_npz_with_y_of_several_tasks_is_a_multi_task_dataset(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.random.default_rng(0).normal(size=(40, 5))
    tasks = np.array(["odd", "pair", "third"])
    response = upload(client, npz_bytes(X=x, Y=_labels(), tasks=tasks), name="tasks")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["tasks"] == ["odd", "pair", "third"] and dataset["n_classes"] == 2
    catalog = {entry["id"]: entry for entry in client.get(URL).json()}
    assert catalog[str(dataset["id"])]["tasks"] == ["odd", "pair", "third"]

    file = tmp_path / "tasks.npz"
    file.write_bytes(client.get(f"{URL}/{dataset['id']}/file").content)
    splits = load_splits(str(dataset["id"]), file=file)
    assert splits.info.tasks == ("odd", "pair", "third") and splits.info.n_outputs == 3
    assert splits.train.y.shape[1] == 3 and -1 in splits.train.y[:, 1]


def test_a_csv_with_several_label_columns_is_a_multi_task_dataset(client: TestClient) -> None:
    rows = ["a,b,even,big"] + [
        f"{i},{i * 0.5},{'' if i % 5 == 0 else i % 2},{int(i > 20)}" for i in range(40)
    ]
    response = upload(
        client, ("\n".join(rows) + "\n").encode(), "t.csv", name="csv-tasks", label_column="even,big"
    )
    assert response.status_code == 201, response.text
    assert response.json()["tasks"] == ["even", "big"] and response.json()["input_shape"] == [2]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ("unlabelled", "Y", "task 'pair' has no labelled example (every label is -1)"),
        ("outside", "Y", "task 'third' has labels other than 1, 0 and -1 (missing): 2"),
        ("names", "tasks", "must be 3 distinct non-empty names, one per column of Y"),
    ],
)
def test_a_bad_multi_task_npz_is_refused_naming_the_task(
    client: TestClient, change: str, field: str, message: str
) -> None:
    y, tasks = _labels(), np.array(["odd", "pair", "third"])
    if change == "unlabelled":
        y[:, 1] = -1
    if change == "outside":
        y[3, 2] = 2
    if change == "names":
        tasks = np.array(["odd", "odd", "third"])
    response = upload(client, npz_bytes(X=np.zeros((40, 2)), Y=y, tasks=tasks), name=f"bad-{change}")
    assert response.status_code == 422
    assert refusal(response) == (["body", field], message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2", "line 5, column 'even': '2' is not 1, 0 or -1 (missing)"),
        ("", "task 'even' has no labelled example (every label is -1)"),
    ],
)
def test_a_bad_multi_task_csv_is_refused_naming_the_column(
    client: TestClient, value: str, message: str
) -> None:
    cells = [value if (value == "" or i == 3) else str(i % 2) for i in range(30)]
    rows = ["a,even,big"] + [f"{i},{cells[i]},{int(i > 9)}" for i in range(30)]
    response = upload(
        client, ("\n".join(rows) + "\n").encode(), "t.csv", name="bad-csv", label_column="even,big"
    )
    assert response.status_code == 422
    assert refusal(response) == (["body", "label_column"], message)


def test_an_npz_with_both_y_and_big_y_is_refused(client: TestClient) -> None:
    data = npz_bytes(X=np.zeros((40, 2)), y=np.arange(40) % 2, Y=_labels())
    assert refusal(upload(client, data, name="both")) == (
        ["body", "file"],
        "the .npz has both 'y' and 'Y': one label array, please",
    )
