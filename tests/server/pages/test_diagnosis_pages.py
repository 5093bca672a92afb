"""The error ladder, "try next" and data-size curve on the run page, the leaderboard and the compare page."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Project, Run
from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows, texts

CONFIG = {
    "model": {"name": "mlp", "hidden": [64]},
    "hparams": {
        "epochs": 10,
        "lr": 0.01,
        "optimizer": "adam",
        "l2": 0.0,
        "keep_prob": 1.0,
        "train_fraction": 1.0,
    },
}


def _json_block(html: str, element_id: str) -> dict:
    start = html.index(f'<script type="application/json" id="{element_id}">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def _try_next_forms(html: str) -> list[dict[str, str | None]]:
    inputs = attrs_of(html, "input")
    paths = [a["value"] for a in inputs if a.get("name") == "path"]
    values = [a["value"] for a in inputs if a.get("name") == "value"]
    return [{"path": p, "value": v} for p, v in zip(paths, values, strict=True)]


def test_run_page_shows_the_ladder_the_summary_and_try_next(client: TestClient, session: Session) -> None:
    project = make_project(session, human_level_error=0.01)
    run = make_run(session, project, config=CONFIG)
    log_points(session, run, {"train_error": [0.02], "train_dev_error": [0.03], "dev_error": [0.12]})

    response = client.get(f"/runs/{run.id}")

    assert response.status_code == 200
    assert 'id="ladder-chart"' in response.text
    chart = _json_block(response.text, "ladder-chart-data")
    assert [(r["label"], r["value"]) for r in chart["rungs"]] == [
        ("human-level", 0.01),
        ("train", 0.02),
        ("train-dev", 0.03),
        ("dev", 0.12),
        ("test", None),
    ]
    assert chart["primary"] == "data_mismatch"
    assert [g["key"] for g in chart["gaps"] if g["primary"]] == ["data_mismatch"]
    assert texts(response.text, "diagnosis-summary") == [
        "Data mismatch dominates: dev error is 9.0 points above train-dev error; "
        "make the training data more like the dev data."
    ]
    unknown = "uncertainty unknown (log the split sizes)"
    assert table_rows(response.text, "gaps") == [
        ["Avoidable bias", "human-level → train", "+1.00", unknown],
        ["Variance", "train → train-dev", "+1.00", unknown],
        ["Data mismatch dominant", "train-dev → dev", "+9.00", unknown],
        ["Dev overfitting", "dev → test", "—", "not measured"],
    ]
    # Four recommendations: the mismatch's two (text: an "edit a copy" link each), then bias's knobs, whose
    # gap is the next largest (without split sizes any positive gap counts).
    assert [a["data-gap"] for a in attrs_of(response.text, "li") if "data-gap" in a] == [
        "data_mismatch", "data_mismatch", "avoidable_bias", "avoidable_bias"
    ]  # fmt: skip
    assert _try_next_forms(response.text) == [
        {"path": "model.hidden", "value": "[128]"}, {"path": "hparams.epochs", "value": "20"}
    ]  # fmt: skip
    buttons = [t for t in texts(response.text, "button") if t.startswith("Try next:")]
    assert buttons == [
        "Try next: edit a copy", "Try next: edit a copy",
        "Try next: 2x hidden units (64 -> 128)", "Try next: 2x epochs (10 -> 20)",
    ]  # fmt: skip
    edits = [a["href"] for a in attrs_of(response.text, "a") if "try-next-edit" in a.get("class", "")]
    assert edits == [f"/projects/{project.id}/runs/new?parent={run.id}"] * 2
    assert not attrs_of(response.text, "p") or "no-human" not in response.text


def test_run_page_without_human_level_error_assumes_bayes_error_zero(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, human_level_error=None)
    run = make_run(session, project, config=CONFIG)
    log_points(session, run, {"train_error": [0.02], "dev_error": [0.15]})

    response = client.get(f"/runs/{run.id}")

    [note] = texts(response.text, "no-human")
    assert "No human-level error set: Bayes error is taken as 0" in note
    assert "Set the project's human-level error" in note
    assert f'href="/projects/{project.id}#edit-project"' in response.text
    assert [row[:3] for row in table_rows(response.text, "gaps")[:2]] == [
        ["Avoidable bias", "human-level → train", "+2.00"],
        ["Variance dominant", "train → dev", "+13.00"],
    ]
    chart = _json_block(response.text, "ladder-chart-data")
    assert chart["rungs"][0] == {
        "key": "human_level_error", "label": "Bayes (0, assumed)", "value": 0.0,
        "examples": None, "margin": None,
    }  # fmt: skip


def test_try_next_clones_the_run_and_opens_the_child(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, config=CONFIG)
    token = csrf_token(client)

    response = client.post(
        f"/runs/{run.id}/try-next",
        data={"csrf_token": token, "path": "hparams.l2", "value": "0.001"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    child = session.scalars(select(Run).where(Run.parent_id == run.id)).one()
    assert response.headers["location"] == f"/runs/{child.id}"
    assert child.status == "queued" and child.config["hparams"]["l2"] == 0.001
    page = client.get(response.headers["location"])
    assert (
        f"queued with hparams.l2 = 0.001, as a child of run #{run.id}"
        in texts(page.text, "message-success")[0]
    )
    assert f'href="/runs/{run.id}"' in page.text

    bad = client.post(
        f"/runs/{run.id}/try-next",
        data={"csrf_token": token, "path": "hparams.lr", "value": "-1"},
        follow_redirects=False,
    )
    assert bad.headers["location"] == f"/runs/{run.id}"
    assert "hparams.lr: " in texts(client.get(f"/runs/{run.id}").text, "message-error")[0]
    forged = client.post(f"/runs/{run.id}/try-next", data={"path": "hparams.l2", "value": "0.001"})
    assert forged.status_code == 403


def test_data_size_curve_button_queues_four_runs_and_shows_the_curve(
    client: TestClient, session: Session
) -> None:
    project = make_project(session)
    run = make_run(session, project, config=CONFIG)
    token = csrf_token(client)
    assert 'id="data-size-form"' in client.get(f"/runs/{run.id}").text

    response = client.post(
        f"/runs/{run.id}/data-size-curve", data={"csrf_token": token}, follow_redirects=False
    )

    assert response.status_code == 303
    children = session.scalars(select(Run).where(Run.parent_id == run.id).order_by(Run.id)).all()
    assert [c.config["hparams"]["train_fraction"] for c in children] == [0.1, 0.25, 0.5, 1.0]
    for child, (train, dev) in zip(
        children, [(0.0, 0.3), (0.0, 0.2), (0.01, 0.12), (0.01, 0.08)], strict=True
    ):
        log_points(session, child, {"train_error": [train], "dev_error": [dev]})
    page = client.get(f"/runs/{run.id}")
    assert 'id="data-size-form"' not in page.text
    assert 'id="data-size-chart"' in page.text
    curve = _json_block(page.text, "data-size-data")
    assert [p["train_examples"] for p in curve["points"]] == [108, 270, 539, 1078]
    assert "keeps closing" in texts(page.text, "data-size-reading")[0]
    assert [row[1] for row in table_rows(page.text, "data-size-runs")] == ["10 %", "25 %", "50 %", "100 %"]


def test_project_leaderboard_greys_a_run_breaking_a_constraint(client: TestClient, session: Session) -> None:
    project = make_project(
        session,
        satisficing=[{"metric": "latency_ms_b1", "max": 10}, {"metric": "param_count", "max": 1000000}],
    )
    fast = make_run(session, project, name="fast")
    slow = make_run(session, project, name="slow-but-best")
    log_points(session, fast, {"dev_error": [0.09], "latency_ms_b1": [4.0], "param_count": [50000]})
    log_points(session, slow, {"dev_error": [0.05], "latency_ms_b1": [25.0], "param_count": [50000]})

    response = client.get(f"/projects/{project.id}")

    assert table_rows(response.text, "leaderboard-table") == [
        ["1", "fast", "succeeded", "9.00 %", "all met"],
        ["—", "slow-but-best", "succeeded", "5.00 %", "breaks latency_ms_b1 25 > 10"],
    ]
    rows = [a for a in attrs_of(response.text, "tr") if a.get("data-run-id")]
    assert [(a["data-run-id"], a["class"]) for a in rows[:2]] == [
        (str(fast.id), "eligible"),
        (str(slow.id), "ineligible"),
    ]
    assert "latency_ms_b1 ≤ 10" in response.text and "param_count ≤ 1,000,000" in response.text


def test_cancelled_and_early_stopped_runs_do_not_rank(client: TestClient, session: Session) -> None:
    # A trial stopped early (or a run cancelled at epoch 2) has the error of half a training: often the
    # lowest at that moment on a noisy dev set, it must not take first place from a finished run.
    project = make_project(session)
    finished = make_run(session, project, name="finished")
    stopped = make_run(session, project, name="stopped-early", status="cancelled", stopped_early=True)
    cancelled = make_run(session, project, name="cancelled", status="cancelled")
    log_points(session, finished, {"dev_error": [0.09]})
    log_points(session, stopped, {"dev_error": [0.04]})
    log_points(session, cancelled, {"dev_error": [0.05]})

    response = client.get(f"/projects/{project.id}")

    assert [row[1] for row in table_rows(response.text, "leaderboard-table")] == ["finished"]


def test_project_runs_table_shows_gaps_and_compare_boxes(client: TestClient, session: Session) -> None:
    project = make_project(session, human_level_error=0.01)
    run = make_run(session, project, name="r")
    log_points(session, run, {"train_error": [0.05], "train_dev_error": [0.07], "dev_error": [0.10]})

    response = client.get(f"/projects/{project.id}?sort=-variance")

    [row] = table_rows(response.text, "runs")
    assert row[7:10] == ["+4.00", "+2.00", "+3.00"]
    assert f'href="/projects/{project.id}?sort=variance"' in response.text  # the sorted column flips
    boxes = [a for a in attrs_of(response.text, "input") if a.get("name") == "runs"]
    assert boxes == [{"type": "checkbox", "class": "compare-pick", "name": "runs", "value": str(run.id),
                      "form": "compare-form", "aria-label": "Compare r"}]  # fmt: skip


def test_project_form_edits_satisficing_constraints(client: TestClient, session: Session) -> None:
    project = make_project(session)
    token = csrf_token(client)
    base = {"csrf_token": token, "human_level_error": "", "optimizing_metric": "dev_error"}

    ok = client.post(
        f"/projects/{project.id}", data={**base, "satisficing": "latency_ms_b1 <= 10\nparam_count<=1e6"}
    )
    bad = client.post(f"/projects/{project.id}", data={**base, "satisficing": "latency fast"})

    assert ok.status_code == 200  # followed the redirect
    session.expire_all()
    assert session.get(Project, project.id).satisficing == [
        {"metric": "latency_ms_b1", "max": 10.0},
        {"metric": "param_count", "max": 1000000.0},
    ]
    assert "latency_ms_b1 &lt;= 10\nparam_count &lt;= 1000000" in ok.text
    assert bad.status_code == 422
    assert texts(bad.text, "field-error") == [
        "Satisficing constraints (satisficing): line 1: write metric <= number or metric >= number, "
        "but got 'latency fast'"
    ]
    # a form without the field (e.g. an older page) keeps the constraints
    client.post(f"/projects/{project.id}", data=base)
    session.expire_all()
    assert len(session.get(Project, project.id).satisficing) == 2


def test_compare_page_highlights_differing_keys(client: TestClient, session: Session) -> None:
    project = make_project(session)
    a = make_run(session, project, name="a", config=CONFIG)
    b = make_run(session, project, name="b", config={**CONFIG, "hparams": {**CONFIG["hparams"], "l2": 0.001}})
    log_points(session, a, {"train_error": [0.02], "dev_error": [0.1]})

    response = client.get(f"/compare?runs={a.id},{b.id}")

    assert response.status_code == 200
    assert table_rows(response.text, "config-compare") == [["hparams.l2", "0.0", "0.001"]]
    assert [a.get("class") for a in attrs_of(response.text, "tr") if a.get("data-key") == "hparams.l2"] == [
        "differs"
    ]
    assert ["hparams.lr", "0.01"] in table_rows(response.text, "config-same")
    assert f'id="ladder-{a.id}"' in response.text and f'id="ladder-{b.id}"' in response.text
    assert 'id="compare-chart"' in response.text
    data = _json_block(response.text, "compare-data")
    assert [r["id"] for r in data["runs"]] == [a.id, b.id]
    assert len({r["color"] for r in data["runs"]}) == 2
    # repeated ?runs= from the project page's checkboxes work too
    assert client.get(f"/compare?runs={a.id}&runs={b.id}").status_code == 200


def test_compare_page_refuses_too_few_runs_and_unknown_ones(client: TestClient, session: Session) -> None:
    project = make_project(session)
    a = make_run(session, project)

    one = client.get(f"/compare?runs={a.id}")
    unknown = client.get(f"/compare?runs={a.id},999999")
    junk = client.get("/compare?runs=1,x")

    assert one.status_code == 422 and "choose 2 to 10 runs to compare, but got 1" in one.text
    assert unknown.status_code == 404 and "Run 999999 not found" in unknown.text
    assert junk.status_code == 422 and "expected run ids" in junk.text
