import html
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows


def test_run_page_offers_a_gradient_check_that_shows_the_workers_result(
    client: TestClient, session: Session
) -> None:
    config = {"model": {"name": "mlp", "hidden": [8]}, "hparams": {}}
    run = make_run(session, make_project(session), config=config)
    page = client.get(f"/runs/{run.id}")
    action = f"/runs/{run.id}/gradcheck"
    form = {"method": "post", "action": action, "class": "inline", "id": "gradcheck-form"}
    assert form in attrs_of(page.text, "form")

    queued = client.post(f"/runs/{run.id}/gradcheck", data={"csrf_token": csrf_token(client)})
    assert queued.status_code == 200
    assert "A worker is running the check" in queued.text
    assert '<meta http-equiv="refresh" content="2">' in queued.text
    check_id = str(queued.url).split("/gradchecks/")[1].split("?")[0]

    result = {"parameters": [{"name": "net.0.weight", "relative_difference": 3e-8}]}
    assert client.put(f"/api/v1/gradcheck/{check_id}/result", json=result).status_code == 200
    done = client.get(f"/gradchecks/{check_id}?run={run.id}")
    assert "refresh" not in done.text
    assert table_rows(done.text, "gradcheck-table")[0][:2] == ["net.0.weight", "3.00e-08"]


def test_gradient_check_needs_csrf_and_a_known_check(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session))
    assert client.post(f"/runs/{run.id}/gradcheck", data={}).status_code == 403
    assert client.get("/gradchecks/..%2F..%2Fetc").status_code == 404


def paragraph(page: str, element_id: str) -> str:
    """The text of the <p> with this id, tags removed and whitespace collapsed."""
    match = re.search(rf'<p id="{element_id}">(.*?)</p>', page, re.S)
    assert match, f"no <p id={element_id!r}>"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).split())


def test_gradient_check_page_says_what_was_measured_and_skipped(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), config={"model": {"name": "lenet5"}, "hparams": {}})
    queued = client.post(f"/runs/{run.id}/gradcheck", data={"csrf_token": csrf_token(client)})
    check_id = str(queued.url).split("/gradchecks/")[1].split("?")[0]
    result = {
        "epsilon": 1e-6,
        "parameters": [
            {"name": "conv.weight", "relative_difference": 2e-9, "size": 150, "checked": 64, "skipped": 2},
            {"name": "conv.bias", "relative_difference": None, "size": 6, "checked": 0, "skipped": 6},
        ],
    }

    assert client.put(f"/api/v1/gradcheck/{check_id}/result", json=result).status_code == 200
    page = client.get(f"/gradchecks/{check_id}?run={run.id}").text

    assert paragraph(page, "gradcheck-reading") == "Largest relative difference 2.00e-09: great"
    assert paragraph(page, "gradcheck-measured") == (
        "Checked 64 of 156 parameters; skipped 8 whose ±1e-06 step crossed a ReLU or max-pool kink (there a "
        "difference quotient averages two slopes, so it is no derivative to compare with)."
    )
    assert table_rows(page, "gradcheck-table") == [
        ["conv.weight", "2.00e-09", "64 of 150", "2", "great"],
        ["conv.bias", "—", "0 of 6", "6", "not checked: every entry tried had a kink inside its step"],
    ]
