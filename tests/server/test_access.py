"""Every route of the app, called by a logged-in user who is no member of anything, on another user's project,
run, sweep, tag, dataset and gradient check: never a 2xx. A new route without a check fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from server import auth, worker_scope
from server.api.mlflow import tracking as mlflow_tracking
from server.tables import ApiToken, Dataset, Sweep, Tag, User
from server.worker_scope import WORKER_ENDPOINTS
from tests.factories import make_gradcheck, make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for
from trainboard.settings import get_settings

MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
# Routes that name nothing of anyone's (or only the caller's own things): reachable by any logged-in user.
GLOBAL_ROUTES = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/static/apidocs/redoc.standalone.js"),  # ReDoc's bundle, its CDN logo made local
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/me/password"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/projects"),  # a new project of one's own
    ("POST", "/api/v1/datasets"),  # an upload of one's own
    ("GET", "/api/v1/datasets"),  # the catalog: built-ins and one's own uploads
    ("POST", "/api/v1/sweeps/preview"),  # samples a distribution; reads no data
    ("GET", "/api/v1/workers"),  # the shared workers' slots (hosts and counts, no project's data)
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/projects"),
    ("POST", "/datasets"),
    ("GET", "/account"),
    ("POST", "/account/password"),
    ("POST", "/account/tokens"),
    # MLflow's API: a new experiment of one's own; no logged models; endpoints outside the subset (405/501).
    *(
        (method, f"{prefix}/{path}")
        for prefix in MLFLOW_PREFIXES
        for method, path in (
            ("POST", "experiments/create"),
            ("POST", "logged-models/search"),
            *((m, "{rest:path}") for m in ("GET", "POST", "PATCH", "PUT", "DELETE")),
        )
    ),
}
# Lists: reachable, but filtered to the caller's projects (test_lists_show_only_visible_projects).
LIST_ROUTES = {
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs.csv"),
    ("GET", "/api/v1/sweeps"),
    ("GET", "/api/v1/datasets/uploaded"),
    ("GET", "/"),
    ("GET", "/datasets"),
    *((method, f"{prefix}/experiments/search") for prefix in MLFLOW_PREFIXES for method in ("GET", "POST")),
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
    check = make_gradcheck(session, id="6f1c1d4e-0000-4000-8000-00000000a11c", owner_id=alice.id)
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
        "keys": "dev_error",
        "other": str(run.id),
        "parent": str(run.id),
        "run": str(run.id),
        # MLflow's API names experiments and runs in its query and bodies, artifacts in its path
        "experiment_id": str(project.id),
        "experiment_name": project.name,
        "metric_key": "dev_error",
        "run_ids": str(run.id),  # and the runs of GET /api/v1/metrics
        "path": f"{project.id}/{run.id}/artifacts/model.pt",
        "rest": "registered-models/create",
        "fmt": "csv",  # GET /api/v1/runs/{id}/series.{fmt}
        "worker_id": "box:1",  # DELETE /api/v1/workers/{id}: a worker's (or an admin's) call only
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
    mlflow_body = {
        "run_id": str(run.id), "experiment_id": str(project.id), "experiment_ids": [str(project.id)],
        "key": "k", "value": 1.0, "new_name": "renamed", "name": "mine", "status": "FINISHED",
    }  # fmt: skip
    for route in mlflow_tracking.router.routes:
        for prefix in MLFLOW_PREFIXES:
            bodies[("POST", prefix + route.path)] = mlflow_body  # type: ignore[attr-defined]
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


def _outsider_leaks(app: FastAPI, session: Session, victim: Victim, params: dict[str, str]) -> list[str]:
    """Call every route on the victim's things as a user who is no member of anything; what answered."""
    mallory = make_user(session, "mallory")
    checked, leaks = 0, []
    with client_as(app, token_for(session, mallory)) as outsider:
        for method, path, route in _routes(app):
            if (method, path) in GLOBAL_ROUTES | LIST_ROUTES:
                continue
            url = _url(path, route, params)
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
    assert checked > 70
    return leaks


def test_an_outsider_gets_nothing_from_any_route(app: FastAPI, session: Session, victim: Victim) -> None:
    leaks = _outsider_leaks(app, session, victim, victim.params)
    assert leaks == [], "routes an outsider can use on someone else's project:\n" + "\n".join(leaks)


ID_PARAMS = (
    "project_id", "run_id", "other_id", "sweep_id", "dataset_id", "runs", "run_ids", "other", "parent", "run"
)  # fmt: skip


SPELLINGS = {"plus": "%2B{}", "zero": "0{}", "point": "{}.0", "space": "%20{}"}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_id_spelled_otherwise_reaches_nothing(
    app: FastAPI, session: Session, victim: Victim, spelling: str
) -> None:
    """int() reads '+1', '01', '1.0' and ' 1' as 1: such ids once skipped the check and reached run 1."""
    params = {
        name: ",".join(spelling.format(i) for i in value.split(",")) if name in ID_PARAMS else value
        for name, value in victim.params.items()
    }
    leaks = _outsider_leaks(app, session, victim, params)
    reached = [leak for leak in leaks if ": 422 " not in leak]  # refused as malformed: nothing read
    assert reached == [], "reached with another spelling of an id:\n" + "\n".join(reached)


def test_an_id_spelled_otherwise_is_a_422_naming_the_parameter(
    app: FastAPI, session: Session, victim: Victim
) -> None:
    alice = session.query(User).filter(User.username == "alice").one()
    run_id = victim.params["run_id"]
    with client_as(app, token_for(session, alice)) as owner:
        assert owner.get(f"/api/v1/runs/{run_id}").status_code == 200
        response = owner.get(f"/api/v1/runs/%2B{run_id}")
        listed = owner.get(f"/api/v1/runs?project_id={victim.params['project_id']}.0")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "run_id"]
    assert listed.status_code == 422
    assert listed.json()["detail"][0]["loc"] == ["query", "project_id"]


def test_the_allow_lists_name_real_routes(app: FastAPI) -> None:
    routes = {(method, path) for method, path, _ in _routes(app)}
    assert (GLOBAL_ROUTES | LIST_ROUTES) - routes == set()


def test_lists_show_only_visible_projects(app: FastAPI, session: Session, victim: Victim) -> None:
    mallory = make_user(session, "mallory")
    with client_as(app, token_for(session, mallory)) as outsider:
        for url in ("/api/v1/projects", "/api/v1/runs", "/api/v1/sweeps", "/api/v1/datasets/uploaded"):
            assert outsider.get(url).json()["total"] == 0, url
        exported = outsider.get("/api/v1/runs.csv")
        assert exported.headers["x-total-count"] == "0"
        assert exported.text.count("\n") == 1  # the header row alone
        catalog = outsider.get("/api/v1/datasets").json()
        assert victim.params["dataset_id"] not in [d["id"] for d in catalog]
        assert victim.project_name not in outsider.get("/").text
        assert "alice-data" not in outsider.get("/datasets").text


def test_a_caller_without_credentials_gets_401_from_the_api(app: FastAPI, victim: Victim) -> None:
    with client_as(app, None) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        for docs in ("/docs", "/redoc"):
            redirected = anonymous.get(docs, follow_redirects=False)
            assert (redirected.status_code, redirected.headers["location"]) == (
                303,
                f"/login?next=%2F{docs[1:]}",
            )
        for method, path, route in _routes(app):
            if not path.startswith("/api/v1/") or path == "/api/v1/health":
                continue
            response = anonymous.request(method, _url(path, route, victim.params), json={})
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"


# Routes that check no credential at all (a worker token changes nothing there).
OPEN_ROUTES = {
    ("GET", "/api/v1/health"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
}


@pytest.mark.parametrize("kind", ["issued", "configured"])
def test_a_worker_token_gets_403_from_every_route_a_worker_does_not_need(
    app: FastAPI, session: Session, victim: Victim, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "configured":
        monkeypatch.setenv("TRAINBOARD_API_TOKEN", "configured-worker-token")
        get_settings.cache_clear()
        auth._expected_token_hash.cache_clear()
    token = "configured-worker-token" if kind == "configured" else token_for(session, None, kind="worker")
    allowed, opened = 0, []
    with client_as(app, token) as worker:
        for method, path, route in _routes(app):
            if (method, path) in OPEN_ROUTES:
                continue
            if route is not None and worker_scope.endpoint_name_of(route.endpoint) in WORKER_ENDPOINTS:
                allowed += 1
                continue
            url = _url(path, route, victim.params)
            response = worker.request(method, url, json=victim.bodies.get((method, path), {}))
            if response.status_code != 403:
                opened.append(f"{method} {url}: {response.status_code} {response.text[:120]}")
    assert opened == [], "routes a worker token may use but no worker needs:\n" + "\n".join(opened)
    assert allowed == len(WORKER_ENDPOINTS)
