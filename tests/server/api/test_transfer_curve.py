"""When transfer pays: a fine-tuned run's data-size curve trains the same fractions from scratch too."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.checkpoint_files import checkpoint_path
from tests.factories import make_project, make_run


def _fine_tuned(client: TestClient, session: Session) -> dict:
    source = make_run(session, make_project(session, dataset="digits-source"))
    checkpoint_path(source.id).parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path(source.id).write_bytes(b"weights")
    target = make_project(session, dataset="digits-target")
    body = {"project_id": target.id, "name": "tuned", "config": {"transfer": {"from_run_id": source.id}}}
    return client.post("/api/v1/runs", json=body).json()


def test_a_fine_tuned_run_copied_keeps_its_source(client: TestClient, session: Session) -> None:
    run = _fine_tuned(client, session)
    copy = client.post(f"/api/v1/runs/{run['id']}/clone", json={"changes": {"hparams.lr": 0.01}}).json()
    assert copy["config"]["transfer"] == run["config"]["transfer"]


def test_the_curve_compares_fine_tuned_and_scratch_at_the_same_sizes(
    client: TestClient, session: Session
) -> None:
    run = _fine_tuned(client, session)
    children = client.post(f"/api/v1/runs/{run['id']}/data-size-curve").json()
    assert len(children) == 8
    tuned, scratch = children[:4], children[4:]
    assert all(c["config"]["transfer"] == run["config"]["transfer"] for c in tuned)
    assert all("transfer" not in c["config"] and c["params"]["from_scratch"] for c in scratch)
    assert [c["name"] for c in scratch][0] == "tuned @ 10% data, from scratch"
    assert all(c["config"]["model"] == run["config"]["model"] for c in children)
    # 72 training examples: 8, 18, 36, 72. Transfer wins below 36; from 36 on scratch is as good.
    dev = {"tuned": [0.30, 0.25, 0.20, 0.18], "scratch": [0.80, 0.50, 0.20, 0.15]}
    for arm, runs in (("tuned", tuned), ("scratch", scratch)):
        for child, value in zip(runs, dev[arm], strict=True):
            points = [
                {"key": "train_error", "step": 1, "value": 0.0},
                {"key": "dev_error", "step": 1, "value": value},
            ]
            client.post(f"/api/v1/runs/{child['id']}/metrics", json={"metrics": points})

    body = client.get(f"/api/v1/runs/{run['id']}/data-size-curve").json()

    assert [p["train_examples"] for p in body["points"]] == [8, 18, 36, 72]
    assert [p["train_examples"] for p in body["scratch_points"]] == [8, 18, 36, 72]
    assert [p["dev_error"] for p in body["scratch_points"]] == dev["scratch"]
    assert body["transfer_reading"] == (
        "Transfer wins up to 18 training examples; from 36 on, training from scratch does as well or "
        "better: below that size, fine-tune."
    )
    page = client.get(f"/runs/{run['id']}")
    assert "Transfer wins up to 18 training examples" in page.text
    assert page.text.count(">from scratch</td>") == 4
