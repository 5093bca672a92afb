"""A project's or a gradient check's `dataset` naming another user's upload: refused however it is spelled.

The check once ran only on ids of at most 9 characters while the lookup read up to 18, so
`{"dataset": "0000000003"}` built a project on someone else's private upload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Dataset, Project, User
from tests.server.accounts import auth_turned_on, client_as, make_user, token_for

CONFIG = {"model": {"name": "mlp", "hidden": [8]}}


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with auth_turned_on(monkeypatch):
        yield


@pytest.fixture
def alice(session: Session) -> User:
    return make_user(session, "alice")


@pytest.fixture
def upload(session: Session, alice: User) -> Dataset:
    dataset = Dataset(
        name="alice-private", source="npz", kind="tabular", input_shape=[2], n_classes=2, n_examples=10,
        size_bytes=1, sha256="0" * 64, owner_id=alice.id,
    )  # fmt: skip
    session.add(dataset)
    session.commit()
    return dataset


def spellings(dataset_id: int) -> list[str]:
    return [str(dataset_id), f"{dataset_id:010d}", f"{dataset_id:018d}", f"+{dataset_id}", f"{dataset_id}.0"]


def test_another_users_upload_is_no_projects_dataset_however_spelled(
    app: FastAPI, session: Session, upload: Dataset
) -> None:
    mallory = make_user(session, "mallory")
    with client_as(app, token_for(session, mallory)) as outsider:
        for ref in spellings(upload.id):
            response = outsider.post("/api/v1/projects", json={"name": f"on {ref}", "dataset": ref})
            assert response.status_code == 422, (ref, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", "dataset"]
    assert session.scalars(select(Project.dataset)).all() == []


def test_another_users_upload_takes_no_gradient_check_however_spelled(
    app: FastAPI, session: Session, upload: Dataset
) -> None:
    mallory = make_user(session, "mallory")
    with client_as(app, token_for(session, mallory)) as outsider:
        for ref in spellings(upload.id):
            response = outsider.post("/api/v1/gradcheck", json={"dataset": ref, "config": CONFIG})
            assert response.status_code == 422, (ref, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", "dataset"]


def test_the_owner_names_an_upload_by_its_id_as_the_server_writes_it(
    app: FastAPI, session: Session, alice: User, upload: Dataset
) -> None:
    with client_as(app, token_for(session, alice)) as owner:
        padded = owner.post("/api/v1/projects", json={"name": "padded", "dataset": f"{upload.id:010d}"})
        created = owner.post("/api/v1/projects", json={"name": "mine", "dataset": str(upload.id)})
    assert padded.status_code == 422
    assert "Unknown dataset" in padded.json()["detail"][0]["msg"]
    assert created.status_code == 201, created.text
    assert created.json()["dataset"] == str(upload.id)
