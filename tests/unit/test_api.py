"""The HTTP API in process (TestClient); tests/integration drives a real server."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.testing import FakeModel
from tests.unit.helpers import small_system


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    system = small_system(
        tmp_path,
        FakeModel(default="fake answer"),
        server={"max_request_bytes": 4096, "max_task_chars": 1000},
    )
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        yield client, {"Authorization": f"Bearer {admin}"}


def test_health_needs_no_token(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    assert client.get("/health").json()["status"] == "ok"


def test_tasks_need_a_token(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    response = client.post("/tasks", json={"text": "boil an egg"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


def test_submit_then_get_with_wait(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    submitted = client.post("/tasks", json={"text": "boil an egg"}, headers=auth)
    assert submitted.status_code == 202
    task = client.get(f"/tasks/{submitted.json()['id']}", params={"wait": 30}, headers=auth).json()
    assert (task["status"], task["agent"], task["answer"]) == (
        "succeeded",
        "cooking",
        "fake answer",
    )
    assert task["route"]["scores"][0]["agent"] == "cooking"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "   "}, "text"),
        ({}, "text"),
        ({"text": 5}, "text"),
        ({"text": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_task_bodies_are_422_naming_the_field(
    api: tuple[TestClient, dict[str, str]], body: dict[str, object], field: str
) -> None:
    client, auth = api
    response = client.post("/tasks", json=body, headers=auth)
    assert response.status_code == 422
    assert field in response.json()["error"]["message"]


def test_broken_json_is_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post(
        "/tasks", content=b'{"text": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"


def test_non_utf8_body_is_4xx(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post(
        "/tasks",
        content=b'{"text": "\xff\xfe"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_oversized_body_is_413(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post("/tasks", json={"text": "x" * 5000}, headers=auth)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"


def test_unknown_task_is_404(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.get("/tasks/nope", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_wait_out_of_range_is_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    assert client.get("/tasks/x", params={"wait": -1}, headers=auth).status_code == 422


def test_unknown_route_has_the_error_shape(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    body = client.get("/nowhere", headers=auth).json()
    assert set(body["error"]) == {"type", "message", "details"}


def test_agent_added_over_the_api_is_routable(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    created = client.post(
        "/agents",
        headers=auth,
        json={
            "name": "music",
            "description": "songs guitar",
            "examples": ["tune a guitar"],
            "model": "fake",
        },
    )
    assert created.status_code == 201
    task_id = client.post("/tasks", json={"text": "tune a guitar"}, headers=auth).json()["id"]
    task = client.get(f"/tasks/{task_id}", params={"wait": 30}, headers=auth).json()
    assert task["agent"] == "music"


def test_patch_and_delete_agent(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    patched = client.patch("/agents/travel", headers=auth, json={"enabled": False})
    assert patched.json()["available"] is False
    assert client.delete("/agents/travel", headers=auth).status_code == 204
    assert client.get("/agents/travel", headers=auth).status_code == 404


def test_agent_with_bad_name_is_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post("/agents", headers=auth, json={"name": "Bad Name", "description": "x"})
    assert response.status_code == 422
    assert "name" in response.json()["error"]["message"]


def test_duplicate_agent_is_409(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post("/agents", headers=auth, json={"name": "travel", "description": "x"})
    assert response.status_code == 409


def test_users_cannot_change_agents(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    user = client.post("/tokens", headers=auth, json={"user": "alice"}).json()["token"]
    response = client.delete("/agents/travel", headers={"Authorization": f"Bearer {user}"})
    assert response.status_code == 403


def test_users_see_only_their_own_tasks(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    alice = {
        "Authorization": "Bearer "
        + client.post("/tokens", headers=auth, json={"user": "alice"}).json()["token"]
    }
    bob = {
        "Authorization": "Bearer "
        + client.post("/tokens", headers=auth, json={"user": "bob"}).json()["token"]
    }
    task_id = client.post("/tasks", json={"text": "boil an egg"}, headers=alice).json()["id"]
    assert client.get(f"/tasks/{task_id}", headers=bob).status_code == 404
    assert client.get("/tasks", headers=bob).json()["tasks"] == []
    assert [t["id"] for t in client.get("/tasks", headers=alice).json()["tasks"]] == [task_id]
    assert client.get(f"/tasks/{task_id}", headers=alice).json()["submitted_by"] == "alice"


def test_openapi_document_lists_the_routes(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/tasks", "/tasks/{task_id}", "/agents", "/health"} <= set(paths)


def finished_task(client: TestClient, auth: dict[str, str], text: str = "boil an egg") -> str:
    task_id: str = client.post("/tasks", json={"text": text}, headers=auth).json()["id"]
    client.get(f"/tasks/{task_id}", params={"wait": 30}, headers=auth)
    return task_id


def test_feedback_is_recorded_with_the_routed_skill(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    response = client.post(f"/tasks/{task_id}/feedback", json={"rating": 4}, headers=auth)
    assert response.status_code == 201
    assert response.json() == {
        "task_id": task_id,
        "agent": "cooking",
        "context": "cooking/cooking",
        "success": None,
        "rating": 4,
        "value": 0.75,
    }


def test_feedback_needs_success_or_rating(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    response = client.post(f"/tasks/{task_id}/feedback", json={}, headers=auth)
    assert response.status_code == 422


def test_rating_out_of_range_is_422(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    response = client.post(f"/tasks/{task_id}/feedback", json={"rating": 9}, headers=auth)
    assert response.status_code == 422
    assert "rating" in response.json()["error"]["message"]


def test_second_feedback_on_a_task_is_409(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    client.post(f"/tasks/{task_id}/feedback", json={"success": True}, headers=auth)
    again = client.post(f"/tasks/{task_id}/feedback", json={"success": False}, headers=auth)
    assert again.status_code == 409


def test_feedback_on_out_of_scope_task_is_409(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth, "lattice chromodynamics")
    response = client.post(f"/tasks/{task_id}/feedback", json={"success": True}, headers=auth)
    assert response.status_code == 409


def test_feedback_on_someone_elses_task_is_404(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    user = client.post("/tokens", headers=auth, json={"user": "eve"}).json()["token"]
    response = client.post(
        f"/tasks/{task_id}/feedback",
        json={"success": True},
        headers={"Authorization": f"Bearer {user}"},
    )
    assert response.status_code == 404


def test_routing_decision_is_stored_with_router_version(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    task = client.get(f"/tasks/{finished_task(client, auth)}", headers=auth).json()
    route = task["route"]
    assert route["router"] == "neural" and route["router_version"] == "base"
    assert {"confidence", "scores", "skill", "threshold"} <= set(route)


def test_router_state_shows_version_and_feedback(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = finished_task(client, auth)
    client.post(f"/tasks/{task_id}/feedback", json={"success": False}, headers=auth)
    state = client.get("/router", headers=auth).json()
    assert (state["router"], state["version"], state["cascade"]) == ("neural", "base", False)
    assert state["feedback"]["cooking"]["evidence"] > 0


def test_router_reload_needs_an_admin(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    user = client.post("/tokens", headers=auth, json={"user": "u1"}).json()["token"]
    denied = client.post("/router/reload", headers={"Authorization": f"Bearer {user}"})
    assert denied.status_code == 403
    assert client.post("/router/reload", headers=auth).json()["version"] == "base"


def test_idempotent_submit_returns_the_first_task(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    headers = {**auth, "Idempotency-Key": "order-17"}
    first = client.post("/tasks", json={"text": "boil an egg"}, headers=headers)
    again = client.post("/tasks", json={"text": "boil an egg"}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    other = client.post("/tasks", json={"text": "bake bread"}, headers=headers)
    assert other.status_code == 409 and "order-17" in other.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "priority": "urgent"}, "priority"),
        ({"text": "x", "timeout": 0}, "timeout"),
        ({"text": "x", "timeout": 1e9}, "timeout"),
    ],
)
def test_priority_and_timeout_out_of_range_are_422(
    api: tuple[TestClient, dict[str, str]], body: dict[str, object], field: str
) -> None:
    client, auth = api
    response = client.post("/tasks", json=body, headers=auth)
    assert response.status_code == 422 and field in response.json()["error"]["message"]


def test_cancel_finished_task_is_409_unknown_is_404(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task_id = client.post("/tasks", json={"text": "boil an egg"}, headers=auth).json()["id"]
    client.get(f"/tasks/{task_id}", params={"wait": 30}, headers=auth)
    finished = client.delete(f"/tasks/{task_id}", headers=auth)
    assert finished.status_code == 409 and "already succeeded" in finished.text
    assert client.delete("/tasks/nope", headers=auth).status_code == 404


def test_task_events_stream_until_the_task_finishes(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    task_id = client.post("/tasks", json={"text": "boil an egg"}, headers=auth).json()["id"]
    response = client.get(f"/tasks/{task_id}/events", params={"wait": 30}, headers=auth)
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    statuses = [json.loads(b.split("data: ", 1)[1])["status"] for b in blocks]
    assert statuses[0] == "queued" and statuses[-2:] == ["succeeded", "succeeded"]
    assert "routing" in statuses and "running" in statuses
    assert client.get("/tasks/nope/events", headers=auth).status_code == 404


def test_task_list_pages_with_a_cursor(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    ids = [
        client.post("/tasks", json={"text": f"boil egg {i}"}, headers=auth).json()["id"]
        for i in range(3)
    ]
    page = client.get("/tasks", params={"limit": 2}, headers=auth).json()
    assert [t["id"] for t in page["tasks"]] == ids[:0:-1] and page["next"] == ids[1]
    rest = client.get("/tasks", params={"limit": 2, "before": page["next"]}, headers=auth).json()
    assert [t["id"] for t in rest["tasks"]] == [ids[0]] and rest["next"] is None


def test_workers_lists_the_embedded_server(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    body = client.get("/workers", headers=auth).json()
    assert body["mode"] == "embedded"


def test_a_lost_database_is_503_naming_it_and_a_retry_works(
    api: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    client, auth = api
    task_id = client.post("/tasks", json={"text": "boil an egg"}, headers=auth).json()["id"]
    store = client.app.state.system.tasks.store  # type: ignore[attr-defined]
    visible = store.visible

    def unreachable(*_args: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(store, "visible", unreachable)
    response = client.get(f"/tasks/{task_id}", headers=auth)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    error = response.json()["error"]
    assert error["type"] == "storage_unavailable"
    assert "sqlite:///" in error["message"] and error["details"]["storage"].startswith("sqlite")

    def broken(*_args: object) -> None:  # not an outage: a bug, and it stays a 500
        raise IntegrityError("INSERT", {}, ValueError("duplicate"))

    monkeypatch.setattr(store, "visible", broken)
    assert client.get(f"/tasks/{task_id}", headers=auth).status_code == 500
    monkeypatch.setattr(store, "visible", visible)
    assert client.get(f"/tasks/{task_id}", headers=auth).status_code == 200


def user_auth(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    token = client.post("/tokens", json={"user": "bob"}, headers=admin).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_high_priority_from_a_user_is_403_naming_the_rule(
    api: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    client, admin = api
    user = user_auth(client, admin)
    response = client.post("/tasks", json={"text": "boil an egg", "priority": "high"}, headers=user)
    assert response.status_code == 403
    assert (
        "priority 'high' needs one of the roles in security.privileged_roles"
        in (response.json()["error"]["message"])
    )
    assert client.get("/tasks", headers=user).json()["tasks"] == []
    assert "refused priority 'high' to user bob" in caplog.text


def test_high_priority_from_an_admin_is_accepted(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    response = client.post(
        "/tasks", json={"text": "boil an egg", "priority": "high"}, headers=admin
    )
    assert response.status_code == 202 and response.json()["priority"] == "high"
