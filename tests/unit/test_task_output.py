"""A task as the API shows it: times with their zone, and only to its submitter (or an
admin) on every route that shows or changes it."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.testing import FakeModel
from tests.unit.helpers import small_system

Auth = dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Auth, Auth]]:
    """On SQLite, which hands back naive times; an admin's and a user's headers."""
    system = small_system(tmp_path, FakeModel(default="fake answer"))
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        user = system.tokens.create("bob", "user").secret
        yield client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {user}"}


def finished_task(client: TestClient, auth: Auth) -> dict[str, object]:
    task_id = client.post("/tasks", json={"text": "boil an egg"}, headers=auth).json()["id"]
    task: dict[str, object] = client.get(
        f"/tasks/{task_id}", params={"wait": 30}, headers=auth
    ).json()
    return task


def test_task_times_carry_their_zone(api: tuple[TestClient, Auth, Auth]) -> None:
    client, admin, _ = api
    task = finished_task(client, admin)
    times = [datetime.fromisoformat(str(task[key])) for key in ("created_at", "finished_at")]
    assert [t.utcoffset() for t in times] == [timedelta(0)] * 2


def test_task_event_times_carry_their_zone(api: tuple[TestClient, Auth, Auth]) -> None:
    client, admin, _ = api
    task = finished_task(client, admin)
    stream = client.get(f"/tasks/{task['id']}/events", params={"wait": 5}, headers=admin).text
    events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    stamps = [e["at"] for e in events[:-1]] + [events[-1]["created_at"]]
    assert all(datetime.fromisoformat(s).tzinfo is not None for s in stamps)


def test_another_users_task_is_hidden_on_every_task_route(
    api: tuple[TestClient, Auth, Auth],
) -> None:
    client, admin, user = api
    task_id = finished_task(client, admin)["id"]
    answers = [
        client.get(f"/tasks/{task_id}", headers=user).status_code,
        client.get(f"/tasks/{task_id}/events", headers=user).status_code,
        client.post(f"/tasks/{task_id}/feedback", json={"rating": 5}, headers=user).status_code,
        client.delete(f"/tasks/{task_id}", headers=user).status_code,
    ]
    assert answers == [404] * 4
    assert client.get("/tasks", headers=user).json()["tasks"] == []


def test_an_admin_sees_every_users_task(api: tuple[TestClient, Auth, Auth]) -> None:
    client, admin, user = api
    task_id = finished_task(client, user)["id"]
    assert client.get(f"/tasks/{task_id}", headers=admin).status_code == 200
    assert [t["id"] for t in client.get("/tasks", headers=admin).json()["tasks"]] == [task_id]
