"""`trainboard import`: TensorBoard event files written by torch's SummaryWriter, and an MLflow server's
runs (read through MLflow's REST API), copied into Trainboard once, however often the import runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import make_project
from trainboard.importers.mlflow import import_mlflow
from trainboard.importers.tensorboard import import_tensorboard, metric_key
from trainboard.importers.tfevents import run_folders, scalars

API = "/api/2.0/mlflow"


def write_logs(logdir: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for name, lr in (("baseline", 0.01), ("wide/seed-1", 0.1)):
        writer = SummaryWriter(log_dir=str(logdir / name))
        writer.add_text("notes", "not a scalar", 0)
        for step in range(20):
            writer.add_scalar("train_error", lr / (step + 1), step)
            writer.add_scalar("Loss (train)", 2 * lr / (step + 1), step)
            writer.add_scalar("tensor_style", float(step), step, new_style=True)
        writer.close()


def test_the_reader_finds_every_scalar_summary_writer_wrote(tmp_path: Path) -> None:
    write_logs(tmp_path)
    folders = run_folders(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in folders] == ["baseline", "wide/seed-1"]
    points = [p for path in sorted(folders[0].iterdir()) for p in scalars(path)]
    by_tag: dict[str, list[tuple[int, float]]] = {}
    for point in points:
        by_tag.setdefault(point.tag, []).append((point.step, point.value))
    assert sorted(by_tag) == ["Loss (train)", "tensor_style", "train_error"]
    assert [s for s, _ in by_tag["train_error"]] == list(range(20))
    assert by_tag["train_error"][3][1] == pytest.approx(0.01 / 4, rel=1e-6)  # stored as float32
    assert by_tag["tensor_style"][7] == (7, 7.0)
    assert all(p.wall_time > 1_600_000_000 for p in points)


def test_a_cut_short_event_file_keeps_its_whole_records(tmp_path: Path) -> None:
    write_logs(tmp_path)
    path = next((tmp_path / "baseline").iterdir())
    whole = len(list(scalars(path)))
    path.write_bytes(path.read_bytes()[:-7])  # a writer killed mid-record
    assert whole - 3 <= len(list(scalars(path))) < whole


def test_tensorboard_logs_import_once(client, session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_logs(tmp_path / "logs")
    ticks: list[int] = []

    def progress(total: int):  # type: ignore[no-untyped-def]
        ticks.append(total)
        return ticks.append

    first = import_tensorboard(tmp_path / "logs", client, project="tb-import", progress=progress)
    assert (first.runs, first.new_runs, first.points) == (2, 2, 120)
    assert ticks == [2, 1, 1]  # the total, then one tick per run
    again = import_tensorboard(tmp_path / "logs", client, project="tb-import")
    assert (again.runs, again.new_runs) == (2, 0)
    project = client.get("/api/v1/projects", params={"name": "tb-import"}).json()["items"][0]
    runs = client.get("/api/v1/runs", params={"project_id": project["id"]}).json()["items"]
    assert sorted(r["name"] for r in runs) == ["baseline", "wide/seed-1"]
    baseline = next(r for r in runs if r["name"] == "baseline")
    assert baseline["status"] == "succeeded"
    series = client.get(f"/api/v1/runs/{baseline['id']}/metrics/{metric_key('Loss (train)')}").json()
    assert [s for s, _ in series["points"]] == list(range(20))  # once each, after two imports
    assert metric_key("Loss (train)") == "Loss__train_"


def test_an_mlflow_experiment_imports_once_with_its_history(client, session) -> None:  # type: ignore[no-untyped-def]
    make_project(session, name="unrelated")
    source = client.post(f"{API}/experiments/create", json={"name": "src"}).json()["experiment_id"]
    made = client.post(
        f"{API}/runs/create",
        json={
            "experiment_id": source,
            "run_name": "r1",
            "start_time": 1_700_000_000_000,
            "tags": [{"key": "team", "value": "a"}],
        },
    ).json()["run"]["info"]["run_id"]
    points = [
        {"key": "loss", "value": 1 / (s + 1), "timestamp": 1_700_000_000_000 + s, "step": s}
        for s in range(30)
    ]
    client.post(
        f"{API}/runs/log-batch",
        json={"run_id": made, "metrics": points, "params": [{"key": "lr", "value": "0.1"}]},
    )
    client.post(
        f"{API}/runs/update", json={"run_id": made, "status": "FAILED", "end_time": 1_700_000_100_000}
    )

    first = import_mlflow(
        client, client, source_uri="http://mlflow.example:5000", experiment="src", project="copy"
    )
    again = import_mlflow(
        client, client, source_uri="http://mlflow.example:5000", experiment="src", project="copy"
    )
    assert (first.runs, first.new_runs, first.points) == (1, 1, 30)
    assert (again.runs, again.new_runs) == (1, 0)
    copy = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": "copy"}).json()[
        "experiment"
    ]
    found = client.post(f"{API}/runs/search", json={"experiment_ids": [copy["experiment_id"]]}).json()["runs"]
    assert len(found) == 1
    info, data = found[0]["info"], found[0]["data"]
    assert (info["run_name"], info["status"], info["start_time"], info["end_time"]) == (
        "r1",
        "FAILED",
        1_700_000_000_000,
        1_700_000_100_000,
    )
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["team"] == "a" and tags["trainboard.import.source"] == f"http://mlflow.example:5000#{made}"
    assert data["params"] == [{"key": "lr", "value": "0.1"}]
    history = client.get(
        f"{API}/metrics/get-history", params={"run_id": info["run_id"], "metric_key": "loss"}
    ).json()
    assert history["metrics"] == [{**p, "key": "loss"} for p in points]  # steps, values, ms timestamps exact
