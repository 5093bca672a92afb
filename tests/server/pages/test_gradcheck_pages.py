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
