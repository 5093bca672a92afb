"""Input a database cannot store (a NUL character, a number past its column, NaN in JSON) is a 422 that
names the field, on SQLite and PostgreSQL alike; before, PostgreSQL refused it mid-request and the reply
named nothing ("A number in the request is larger than the database can store")."""

from __future__ import annotations

import json
import math
import typing
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from server import schemas
from server.app import create_app
from tests.factories import make_project, make_run

NUL = "a\x00b"
PAST_INT64 = 2**63
PAST_INT32 = 2**31


@pytest.fixture
def ids(session: Session) -> dict[str, int]:
    project = make_project(session)
    return {"project": project.id, "run": make_run(session, project, status="running").id}


def _messages(response: Any, loc: list[Any]) -> str:
    """The 422's messages about the field at `loc` (a union's come per member: ["label", "int"])."""
    assert response.status_code == 422, response.text
    found = [d["msg"] for d in response.json()["detail"] if d["loc"][: len(loc)] == loc]
    assert found, response.text
    return " | ".join(found)


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/api/v1/projects/{project}/examples/{nul}/tags", ["path", "example_id"]),
        ("/api/v1/projects/{project}/examples/{nul}/image.png", ["path", "example_id"]),
        ("/api/v1/runs/{run}/metrics/{nul}", ["path", "key"]),
        ("/api/v1/projects?name={nul}", ["query", "name"]),
        ("/api/v1/runs?cursor={nul}", ["query", "cursor"]),
        ("/api/v1/runs/{run}/errors?tag={nul}", ["query", "tag"]),
        ("/api/v1/runs/{run}/errors.csv?label={nul}", ["query", "label"]),
        ("/api/v1/runs?project_id=" + str(PAST_INT32), ["query", "project_id"]),
        ("/api/v1/sweeps?project_id=" + str(PAST_INT64), ["query", "project_id"]),
        ("/api/v1/projects/{project}/label-corrections?version=" + str(PAST_INT32), ["query", "version"]),
        ("/api/v1/projects?offset=" + str(PAST_INT64), ["query", "offset"]),
        ("/api/v1/runs/{run}/errors?offset=" + str(PAST_INT64), ["query", "offset"]),
    ],
)
def test_unstorable_url_parts_are_422_naming_the_parameter(
    client: TestClient, ids: dict[str, int], url: str, loc: list[str]
) -> None:
    response = client.get(url.format(project=ids["project"], run=ids["run"], nul=quote(NUL)))
    message = _messages(response, loc)
    assert "NUL" in message or "less than or equal" in message or "expected an id such as 42" in message


@pytest.mark.parametrize(
    ("method", "url", "body", "loc", "reason"),
    [
        ("POST", "/api/v1/projects", {"name": NUL, "dataset": "digits"}, ["body", "name"], "NUL"),
        ("POST", "/api/v1/projects/{project}/tags", {"name": NUL}, ["body", "name"], "NUL"),
        (  # the column holds 100 characters (PostgreSQL refused 101, SQLite stored them)
            "PATCH",
            "/api/v1/projects/{project}",
            {"optimizing_metric": "m" * 101},
            ["body", "optimizing_metric"],
            "at most 100 characters",
        ),
        (
            "PATCH",
            "/api/v1/projects/{project}",
            {"satisficing": [{"metric": "dev_error", "max": math.nan}]},
            ["body", "satisficing", 0, "max"],
            "finite",
        ),
        ("POST", "/api/v1/runs/{run}/finish", {"status": "failed", "error": NUL}, ["body", "error"], "NUL"),
        (
            "POST",
            "/api/v1/runs/{run}/predictions",
            {"predictions": [{"example_id": "e1", "label": NUL, "predicted": 1}]},
            ["body", "predictions", 0, "label"],
            "NUL",
        ),
        (
            "POST",
            "/api/v1/projects/{project}/examples/tags",
            {"example_ids": ["e1", NUL], "add": ["blurry"]},
            ["body", "example_ids", 1],
            "NUL",
        ),
        ("POST", "/api/v1/runs", {"project_id": PAST_INT32}, ["body", "project_id"], "less than or equal"),
        (
            "POST",
            "/api/v1/runs",
            {"project_id": "{project}", "external": True, "params": {"data": {"source": NUL}}},
            ["body", "params"],
            "data.source: must not contain a NUL",
        ),
        (
            "POST",
            "/api/v1/runs",
            {"project_id": "{project}", "external": True, "params": {"lr": math.inf}},
            ["body", "params"],
            "lr: must be a finite number",
        ),
        (
            "POST",
            "/api/v1/runs/{run}/clone",
            {"changes": {"hparams.lr": math.nan}},
            ["body", "changes"],
            "hparams.lr: must be a finite number",
        ),
        (
            "POST",
            "/api/v1/gradcheck",
            {"project_id": PAST_INT64},
            ["body", "project_id"],
            "less than or equal",
        ),
        (
            "POST",
            "/api/v1/runs/{run}/progress",
            {"epoch": PAST_INT64, "epochs": 3},
            ["body", "epoch"],
            "less than or equal",
        ),
    ],
)
def test_unstorable_body_fields_are_422_naming_the_field(
    client: TestClient,
    ids: dict[str, int],
    method: str,
    url: str,
    body: dict[str, Any],
    loc: list[Any],
    reason: str,
) -> None:
    if body.get("project_id") == "{project}":
        body = {**body, "project_id": ids["project"]}
    response = client.request(
        method,
        url.format(project=ids["project"], run=ids["run"]),
        content=json.dumps(body),  # NaN and Infinity as Python writes them (and reads them back)
        headers={"content-type": "application/json"},
    )
    assert reason in _messages(response, loc)


def test_pages_refuse_unstorable_query_values_too(client: TestClient, ids: dict[str, int]) -> None:
    for url in (
        f"/?offset={PAST_INT64}",
        f"/runs/{ids['run']}/errors?label={quote(NUL)}",
        f"/runs/{ids['run']}/errors/compare?other={PAST_INT32}",
        f"/projects/{ids['project']}/runs/new?parent={PAST_INT32}",
    ):
        response = client.get(url)
        assert response.status_code == 422, url
        assert "larger than the database" not in response.text


# ---------------------------------------------------------------- every input, by its declared type


def _routes(app: FastAPI) -> typing.Iterator[APIRoute]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


def _params(dependant: Any) -> typing.Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _models(annotation: Any) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _validated(adapter: TypeAdapter[Any], value: Any) -> Any:
    """What the type makes of `value`, or a ValidationError."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        return exc


#: Compared or hashed, never stored: a NUL there harms nothing.
NEVER_STORED = {"csrf_token", "password", "new_password", "current_password"}
SHAPES = [  # (a value of the shape, the same shape holding what no database stores)
    ("a", NUL),
    (["a"], [NUL]),
    ({"k": "a"}, {"k": NUL}),
    ({"k": "a"}, {"k\x00": "a"}),
    ({"k": 1.5}, {"k": math.nan}),
    (1, PAST_INT64),
    ([1], [PAST_INT64]),
]


def _unguarded(name: str, annotation: Any, metadata: list[Any]) -> list[str]:
    """The shapes of input that `annotation` keeps as given but no database can store."""
    if name in NEVER_STORED:
        return []
    adapter: TypeAdapter[Any] = TypeAdapter(
        typing.Annotated[annotation, *metadata] if metadata else annotation
    )
    holes = []
    for good, bad in SHAPES:
        # Kept as given: a float field turns 2**63 into a float, which every database stores.
        if repr(_validated(adapter, good)) == repr(good) and repr(_validated(adapter, bad)) == repr(bad):
            holes.append(f"{name}={bad!r}")
    return holes


def _model_holes(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    holes = []
    for name, field in model.model_fields.items():
        holes += [f"{model.__name__}.{hole}" for hole in _unguarded(name, field.annotation, field.metadata)]
        for inner in _models(field.annotation):
            holes += _model_holes(inner, seen)
    return holes


def test_every_input_refuses_what_no_database_stores() -> None:
    """Each path, query and form parameter and each field of each request body refuses a NUL, NaN in
    free-form JSON and integers past 64 bits; a new parameter without the guard fails here."""
    app: FastAPI = create_app(run_reaper=False)
    holes: list[str] = []
    seen: set[type[BaseModel]] = set()
    for route in _routes(app):
        for param in _params(route.dependant):
            info = param.field_info
            models = list(_models(info.annotation))
            if models:
                for model in models:
                    holes += _model_holes(model, seen)
            else:
                where = f"{sorted(route.methods)[0]} {route.path} {param.name}"
                holes += [
                    f"{where}: {hole}" for hole in _unguarded(param.name, info.annotation, info.metadata)
                ]
    # Bodies that a route reads itself (metrics, upload forms) are validated by these request schemas.
    for value in vars(schemas).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseModel)
            and value.model_config.get("extra") == "forbid"
        ):
            holes += _model_holes(value, seen)
    assert holes == [], "\n".join(holes)
