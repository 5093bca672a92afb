"""An MLflow user's script and client calls, run by test_mlflow_client.py in the MLflow client's own virtual
environment (it imports nothing of Trainboard). MLFLOW_TRACKING_URI points at a Trainboard server; every
check is an assert, and the last line printed is JSON with the ids the test then reads through /api/v1."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput
from mlflow.exceptions import MlflowException

EXPERIMENT = os.environ["EXPERIMENT"]  # made by the test through Trainboard's API, with metric aliases


def refused(call, code: str) -> str:  # type: ignore[no-untyped-def]
    """The message of the MlflowException that `call` raises, which must carry MLflow's `code`."""
    try:
        call()
    except MlflowException as exc:
        assert exc.error_code == code, (exc.error_code, exc.message)
        return exc.message
    raise AssertionError(f"expected {code}")


def train(name: str, lr: float, epochs: int) -> str:
    """An unchanged MLflow training loop: params, a tag, metrics per epoch, an artifact."""
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({"lr": lr, "batch_size": 32})
        mlflow.log_param("optimizer", "adam")
        mlflow.set_tag("team", "vision")
        mlflow.log_metrics({"train_examples": 5000, "val_examples": 1000}, step=0)
        for epoch in range(epochs):
            errors = {"train_error": lr / (epoch + 1), "val_error": 1.5 * lr / (epoch + 1)}
            mlflow.log_metrics({**errors, "train_loss": 2 * lr / (epoch + 1)}, step=epoch)
        mlflow.log_metric("train_loss", 99.0, step=epochs - 1)  # a resent (key, step): the first value stays
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "notes.txt").write_text(f"run {name}\n")
            (Path(folder) / "plots").mkdir()
            (Path(folder) / "plots" / "curve.csv").write_text("step,loss\n0,1.0\n")
            mlflow.log_artifact(str(Path(folder) / "notes.txt"))
            mlflow.log_artifacts(str(Path(folder) / "plots"), artifact_path="plots")
    return run.info.run_id


def check_experiments(client: MlflowClient) -> None:
    made = mlflow.create_experiment("mlflow-made", tags={"owner": "ml-team"})
    experiment = client.get_experiment(made)
    assert (experiment.name, experiment.tags["owner"], experiment.lifecycle_stage) == (
        "mlflow-made",
        "ml-team",
        "active",
    )
    assert mlflow.get_experiment_by_name("mlflow-made").experiment_id == made
    assert mlflow.get_experiment_by_name("no such experiment") is None
    refused(lambda: mlflow.create_experiment("mlflow-made"), "RESOURCE_ALREADY_EXISTS")
    client.set_experiment_tag(made, "stage", "dev")
    assert client.get_experiment(made).tags["stage"] == "dev"
    client.rename_experiment(made, "mlflow-renamed")
    assert client.get_experiment(made).name == "mlflow-renamed"
    client.delete_experiment(made)
    assert client.get_experiment(made).lifecycle_stage == "deleted"
    assert made not in [e.experiment_id for e in client.search_experiments()]
    every = client.search_experiments(view_type=mlflow.entities.ViewType.ALL)
    assert made in [e.experiment_id for e in every]
    client.restore_experiment(made)
    named = client.search_experiments(filter_string="name LIKE 'mlflow-%'", order_by=["name ASC"])
    assert [e.name for e in named] == [EXPERIMENT, "mlflow-renamed"], [e.name for e in named]
    refused(lambda: client.get_experiment("987654"), "RESOURCE_DOES_NOT_EXIST")


def check_runs(client: MlflowClient, experiment_id: str, first: str, second: str) -> None:
    run = client.get_run(first)
    assert (run.info.status, run.info.run_name, run.info.lifecycle_stage) == (
        "FINISHED",
        "baseline",
        "active",
    )
    assert run.info.end_time >= run.info.start_time > 1_600_000_000_000
    assert run.data.params == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}, run.data.params
    assert run.data.tags["team"] == "vision" and run.data.tags["mlflow.runName"] == "baseline"
    history = client.get_metric_history(first, "train_loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert history[-1].value == 0.02 / 5 and all(m.timestamp > 1_600_000_000_000 for m in history)
    aliased = client.get_metric_history(first, "val_error")  # stored as dev_error, read by either name
    assert [round(m.value, 6) for m in aliased][:2] == [0.015, 0.0075]

    found = client.search_runs(
        [experiment_id], filter_string="metrics.train_loss < 0.05 and params.optimizer = 'adam'"
    )
    assert [r.info.run_id for r in found] == [first]
    ordered = client.search_runs([experiment_id], order_by=["params.lr DESC"])
    assert [r.info.run_id for r in ordered] == [second, first]
    page = client.search_runs([experiment_id], max_results=1, order_by=["attributes.start_time ASC"])
    assert [r.info.run_id for r in page] == [first] and page.token
    rest = client.search_runs(
        [experiment_id], max_results=1, page_token=page.token, order_by=["attributes.start_time ASC"]
    )
    assert [r.info.run_id for r in rest] == [second] and not rest.token
    by_tag = client.search_runs(
        [experiment_id], filter_string="tags.team = 'vision' and attributes.run_name LIKE 'wi%'"
    )
    assert [r.info.run_id for r in by_tag] == [second]
    message = refused(
        lambda: client.search_runs([experiment_id], filter_string="metrics.train_loss <"),
        "INVALID_PARAMETER_VALUE",
    )
    assert "position" in message, message

    client.set_tag(first, "temporary", "yes")
    assert client.get_run(first).data.tags["temporary"] == "yes"
    client.delete_tag(first, "temporary")
    assert "temporary" not in client.get_run(first).data.tags
    refused(
        lambda: client.log_param(first, "lr", "0.5"), "INVALID_PARAMETER_VALUE"
    )  # params are written once
    client.log_inputs(first, [DatasetInput(Dataset("digits", "abc123", "local", "/data/digits"))])

    client.delete_run(second)
    assert client.get_run(second).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [first]
    client.restore_run(second)
    assert len(client.search_runs([experiment_id])) == 2

    killed = client.create_run(experiment_id, run_name="short")
    client.log_metric(killed.info.run_id, "train_loss", 0.5, step=0)
    client.set_terminated(killed.info.run_id, "KILLED")
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    client.update_run(killed.info.run_id, name="short-renamed")
    assert client.get_run(killed.info.run_id).info.run_name == "short-renamed"
    refused(lambda: client.get_run("123456789"), "RESOURCE_DOES_NOT_EXIST")
    refused(lambda: client.log_metric(first, "train_error", 8.0, step=9), "INVALID_PARAMETER_VALUE")


def check_artifacts(client: MlflowClient, run_id: str) -> None:
    listed = sorted(f.path for f in client.list_artifacts(run_id))
    assert listed == ["notes.txt", "plots"], listed
    assert [f.path for f in client.list_artifacts(run_id, "plots")] == ["plots/curve.csv"]
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes.txt", dst_path=folder)
        assert Path(local).read_text() == "run baseline\n"
        everything = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=folder)
        assert (Path(everything) / "plots" / "curve.csv").read_text().startswith("step,loss")


def main() -> None:
    client = MlflowClient()
    if os.environ.get("EXPECT") == "UNAUTHENTICATED":
        refused(lambda: mlflow.get_experiment_by_name(EXPERIMENT), "UNAUTHENTICATED")
        print(json.dumps({"refused": True}))
        return
    check_experiments(client)
    experiment_id = mlflow.set_experiment(EXPERIMENT).experiment_id
    first = train("baseline", 0.01, 5)
    second = train("wide", 0.1, 3)
    check_runs(client, experiment_id, first, second)
    check_artifacts(client, first)
    refused(lambda: client.create_registered_model("a-model"), "ENDPOINT_NOT_FOUND")
    print(json.dumps({"experiment_id": experiment_id, "run_id": first, "other_run_id": second}))


if __name__ == "__main__":
    sys.exit(main())
