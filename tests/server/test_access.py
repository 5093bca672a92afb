"""Every route of the app, called by a logged-in user who is no member of anything, on another user's project,
run, sweep, tag, dataset and gradient check: never a 2xx. A new route without a check fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from server.schemas import GradcheckRead
from server.services import gradcheck
from server.tables import ApiToken, Dataset, Sweep, Tag
from tests.factories import make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for

# Routes that name nothing of anyone's (or only the caller's own things): reachable by any logged-in user.
GLOBAL_ROUTES = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/me/password"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/projects"),  # a new project of one's own
    ("POST", "/api/v1/datasets"),  # an upload of one's own
    ("GET", "/api/v1/datasets"),  # the catalog: built-ins and one's own uploads
    ("POST", "/api/v1/sweeps/preview"),  # samples a distribution; reads no data
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/projects"),
    ("POST", "/datasets"),
    ("GET", "/account"),
    ("POST", "/account/password"),
    ("POST", "/account/tokens"),
}
# Lists: reachable, but filtered to the caller's projects (test_lists_show_only_visible_projects).
LIST_ROUTES = {
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/sweeps"),
    ("GET", "/api/v1/datasets/uploaded"),
    ("GET", "/"),
    ("GET", "/datasets"),
}


@dataclass
class Victim:
    """Ids of another user's things, by the path or query parameter that names them."""

    params: dict[str, str]
    project_name: str
    bodies: dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with auth_turned_on(monkeypatch):
        yield


@pytest.fixture
def victim(session: Session) -> Victim:
    alice = make_user(session, "alice")
    project = make_project(session, name="alice-secret-project")
    add_member(session, project, alice, "owner")
    run = make_run(session, project, status="running")
    sweep = Sweep(project_id=project.id, name="alice-sweep", trials=2, base_config={}, space={})
    tag = Tag(project_id=project.id, name="blurry")
    dataset = Dataset(
        name="alice-data", source="npz", kind="tabular", input_shape=[2], n_classes=2, n_examples=10,
        size_bytes=1, sha256="0" * 64, owner_id=alice.id,
    )  # fmt: skip
    session.add_all([sweep, tag, dataset])
    session.commit()
    token_for(session, alice)
    token_id = session.query(ApiToken.id).filter(ApiToken.user_id == alice.id).scalar()
    check = GradcheckRead(
        id="6f1c1d4e-0000-4000-8000-00000000a11c", status="queued", dataset="digits", config={}, batch_size=4,
        created_at=datetime.now(UTC), owner_id=alice.id,
    )  # fmt: skip
    gradcheck._write(check)
    params = {
        "project_id": str(project.id),
        "run_id": str(run.id),
        "other_id": str(run.id),
        "sweep_id": str(sweep.id),
        "dataset_id": str(dataset.id),
        "check_id": check.id,
        "user_id": str(alice.id),
        "token_id": str(token_id),
        "example_id": "ex-1",
        "key": "dev_error",
        "action": "pause",
        # query parameters
        "runs": f"{run.id},{run.id}",
        "other": str(run.id),
        "parent": str(run.id),
        "run": str(run.id),
    }
    config = {"model": {"name": "mlp"}, "hparams": {}}
    bodies = {
        ("POST", "/api/v1/runs"): {"project_id": project.id, "config": {}},
        ("POST", "/api/v1/sweeps"): {
            "project_id": project.id,
            "base_config": config,
            "space": {"hparams.lr": {"log_uniform": [0.001, 0.1]}},
            "trials": 2,
        },
        ("POST", "/api/v1/gradcheck"): {"project_id": project.id, "config": config},
    }
    return Victim(params=params, project_name=project.name, bodies=bodies)


def _routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute | None]]:
    for context in iter_route_contexts(app.routes):
        methods = sorted((context.methods or set()) - {"HEAD"})
        original = context.original_route
        for method in methods:
            yield method, context.path or "", original if isinstance(original, APIRoute) else None


def _url(path: str, route: APIRoute | None, params: dict[str, str]) -> str:
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # {example_id:path} takes a value as {example_id} does
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {path}: add one to the victim fixture"
    names = [p.name for p in route.dependant.query_params] if route else []
    query = "&".join(f"{name}={params[name]}" for name in names if name in params and name != "project_id")
    return path + (f"?{query}" if query else "")


def test_an_outsider_gets_nothing_from_any_route(app: FastAPI, session: Session, victim: Victim) -> None:
    mallory = make_user(session, "mallory")
    checked, leaks = 0, []
    with client_as(app, token_for(session, mallory)) as outsider:
        for method, path, route in _routes(app):
            if (method, path) in GLOBAL_ROUTES | LIST_ROUTES:
                continue
            url = _url(path, route, victim.params)
            body = victim.bodies.get((method, path), {})
            response = outsider.request(method, url, json=body, follow_redirects=False)
            checked += 1
            # A project named in a body is a 422 "Project N not found", as for one that does not exist.
            hidden_in_body = (
                response.status_code == 422
                and f"Project {victim.params['project_id']} not found" in (response.text)
            )
            if response.status_code not in (401, 403, 404) and not hidden_in_body:
                leaks.append(f"{method} {url}: {response.status_code} {response.text[:120]}")
    assert leaks == [], "routes an outsider can use on someone else's project:\n" + "\n".join(leaks)
    assert checked > 70


def test_the_allow_lists_name_real_routes(app: FastAPI) -> None:
    routes = {(method, path) for method, path, _ in _routes(app)}
    assert (GLOBAL_ROUTES | LIST_ROUTES) - routes == set()


def test_lists_show_only_visible_projects(app: FastAPI, session: Session, victim: Victim) -> None:
    mallory = make_user(session, "mallory")
    with client_as(app, token_for(session, mallory)) as outsider:
        for url in ("/api/v1/projects", "/api/v1/runs", "/api/v1/sweeps", "/api/v1/datasets/uploaded"):
            assert outsider.get(url).json()["total"] == 0, url
        catalog = outsider.get("/api/v1/datasets").json()
        assert victim.params["dataset_id"] not in [d["id"] for d in catalog]
        assert victim.project_name not in outsider.get("/").text
        assert "alice-data" not in outsider.get("/datasets").text


def test_a_caller_without_credentials_gets_401_from_the_api(app: FastAPI, victim: Victim) -> None:
    with client_as(app, None) as anonymous:
        for method, path, route in _routes(app):
            if not path.startswith("/api/v1/") or path == "/api/v1/health":
                continue
            response = anonymous.request(method, _url(path, route, victim.params), json={})
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
