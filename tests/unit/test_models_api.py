"""``/models``, ``/v1`` (OpenAI-compatible) and ``/metrics`` in process (TestClient)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.config import ModelDefinition
from smolit.testing import FakeModel
from tests.unit.helpers import small_system

Api = tuple[TestClient, dict[str, str], dict[str, str]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    system = small_system(
        tmp_path,
        FakeModel(default="fake answer"),
        models={
            "default_model": "fake",
            "definitions": {
                "fake": ModelDefinition(backend="fake"),
                "canned": ModelDefinition(
                    backend="fake", model="one two three", cost_per_1k_completion_tokens=2.0
                ),
            },
        },
    )
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        user = system.tokens.create("bob", "user").secret
        yield client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {user}"}


def chat(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    return client.post("/v1/chat/completions", json=body, headers=auth)


def sse_events(text: str) -> list[Any]:
    events = []
    for block in text.strip().split("\n\n"):
        assert block.startswith("data: "), block
        payload = block[len("data: ") :]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def test_models_list_shows_configured_models_as_registered_versions(api: Api) -> None:
    client, _, user = api
    models = {m["name"]: m for m in client.get("/models", headers=user).json()["models"]}
    assert models["canned"]["versions"] == [1] and models["canned"]["registered"]
    assert models["canned"]["backend"] == "fake"


def test_register_promote_rollback_over_the_api(api: Api) -> None:
    client, admin, _ = api
    body = {"name": "canned", "definition": {"backend": "fake", "model": "v2"}, "notes": "n"}
    created = client.post("/models", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["key"] == "canned@2"
    promoted = client.post("/models/canned/promote", json={"version": 1}, headers=admin)
    assert promoted.json()["version"] == 1
    client.post("/models/canned/promote", json={"version": 2}, headers=admin)
    assert chat(client, admin, model="canned").json()["choices"][0]["message"]["content"] == "v2"
    rolled = client.post("/models/canned/rollback", json={}, headers=admin)
    assert rolled.json()["version"] == 1
    detail = client.get("/models/canned", headers=admin).json()
    assert detail["aliases"] == {"production": 1}
    assert [h["action"] for h in detail["history"]] == ["promote", "promote", "rollback"]


def test_registry_changes_need_an_admin(api: Api) -> None:
    client, _, user = api
    body = {"name": "x", "definition": {"backend": "fake"}}
    assert client.post("/models", json=body, headers=user).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "definition": {"backend": "fake", "temperature": 7}}, "temperature"),
        ({"name": "Bad Name", "definition": {"backend": "fake"}}, "name"),
        ({"name": "x", "definition": {"backend": "fake", "bogus": 1}}, "bogus"),
    ],
)
def test_bad_registrations_are_422_naming_the_field(api: Api, body: Any, field: str) -> None:
    client, admin, _ = api
    response = client.post("/models", json=body, headers=admin)
    assert response.status_code == 422 and field in response.json()["error"]["message"]


def test_import_of_a_corrupt_file_is_422_and_changes_nothing(api: Api, tmp_path: Path) -> None:
    client, admin, _ = api
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"\x00" * 64)
    body = {"path": str(bad), "name": "broken"}
    response = client.post("/models/import", json=body, headers=admin)
    assert response.status_code == 422 and "broken.gguf" in response.json()["error"]["message"]
    assert client.get("/models/broken", headers=admin).status_code == 404


def test_unknown_model_or_version_is_404_listing_what_exists(api: Api) -> None:
    client, admin, _ = api
    missing = client.get("/models/nope", headers=admin)
    assert missing.status_code == 404 and "canned" in missing.json()["error"]["message"]
    response = client.post("/models/canned/promote", json={"version": 9}, headers=admin)
    assert response.status_code == 404 and "versions: [1]" in response.json()["error"]["message"]
    chat_missing = chat(client, admin, model="nope")
    assert chat_missing.status_code == 404
    assert "canned" in chat_missing.json()["error"]["details"]["known"]


def test_chat_completion_answers_with_usage_and_records_performance(api: Api) -> None:
    client, admin, _ = api
    reply = chat(client, admin, model="canned").json()
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "one two three"}
    assert reply["usage"]["completion_tokens"] == 3
    (version,) = client.get("/models/canned", headers=admin).json()["versions"]
    performance = version["performance"]
    assert (performance["requests"], performance["completion_tokens"]) == (1, 3)
    assert performance["cost"] == pytest.approx(0.006)
    assert version["loaded"] is True


def test_streamed_chat_sends_chunks_usage_and_done(api: Api) -> None:
    client, admin, _ = api
    response = chat(
        client, admin, model="canned", stream=True, stream_options={"include_usage": True}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.split() == ["one", "two", "three"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_max_tokens_limits_the_answer(api: Api) -> None:
    client, admin, _ = api
    reply = chat(client, admin, model="canned", max_tokens=2).json()
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["choices"][0]["message"]["content"] == "one two"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_p": 0}, "top_p"),
        ({"n": 2}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_invalid_generation_parameters_are_422_naming_the_field(
    api: Api, body: Any, field: str
) -> None:
    client, admin, _ = api
    response = chat(client, admin, model="canned", **body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]


def test_agent_nn_routes_the_last_user_message_to_an_agent(api: Api) -> None:
    client, admin, _ = api
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "book a flight to paris"},
    ]
    reply = chat(client, admin, model="agent-nn", messages=messages).json()
    assert reply["choices"][0]["message"]["content"] == "fake answer"
    routed = reply["agent_nn"]
    assert routed["agent"] == "travel" and routed["status"] == "succeeded"
    assert reply["usage"]["completion_tokens"] == 2  # "fake answer": two words
    task = client.get(f"/tasks/{routed['task_id']}", headers=admin).json()
    assert task["text"] == "book a flight to paris"


def test_agent_nn_streams_the_answer(api: Api) -> None:
    client, admin, _ = api
    messages = [{"role": "user", "content": "boil an egg"}]
    response = chat(client, admin, model="agent-nn", stream=True, messages=messages)
    events = sse_events(response.text)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "fake answer" and events[-1] == "[DONE]"


def test_agent_nn_without_a_user_message_is_422(api: Api) -> None:
    client, admin, _ = api
    response = chat(client, admin, model="agent-nn", messages=[{"role": "system", "content": "x"}])
    assert response.status_code == 422 and "user message" in response.text


def test_v1_models_lists_agent_nn_and_the_models(api: Api) -> None:
    client, _, user = api
    ids = [m["id"] for m in client.get("/v1/models", headers=user).json()["data"]]
    assert ids[0] == "agent-nn" and {"canned", "fake"} <= set(ids)


def test_registering_an_unknown_backend_is_422_not_500(api: Api) -> None:
    client, admin, _ = api
    body = {"name": "m", "definition": {"backend": "nope"}}
    response = client.post("/models", json=body, headers=admin)
    assert response.status_code == 422 and "unknown model backend 'nope'" in response.text


def test_direct_model_call_from_a_user_is_403_naming_the_rule(api: Api) -> None:
    client, _, user = api
    response = chat(client, user, model="canned")
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "model 'canned'" in message and "security.privileged_roles" in message


def test_unknown_model_from_a_user_is_403_not_a_list_of_models(api: Api) -> None:
    client, _, user = api
    response = chat(client, user, model="nope")
    assert response.status_code == 403 and "canned" not in response.text


def test_agent_nn_is_open_to_users(api: Api) -> None:
    client, _, user = api
    reply = chat(client, user, model="agent-nn")
    assert reply.status_code == 200 and reply.json()["agent_nn"]["task_id"]


def test_privileged_roles_are_configurable(tmp_path: Path) -> None:
    system = small_system(tmp_path, security={"privileged_roles": ["admin", "user"]})
    with TestClient(create_app(system)) as client:
        user = {"Authorization": f"Bearer {system.tokens.create('bob', 'user').secret}"}
        assert chat(client, user, model="fake").status_code == 200


def test_v1_needs_a_token(api: Api) -> None:
    client, _, _ = api
    assert client.get("/v1/models").status_code == 401


def test_loaded_and_unload(api: Api) -> None:
    client, admin, _ = api
    chat(client, admin, model="canned")
    pool = client.get("/models/loaded", headers=admin).json()
    assert "canned@1" in [m["model"] for m in pool["models"]] and pool["max_memory_mb"] == 4096
    assert client.delete("/models/loaded/canned@1", headers=admin).status_code == 200
    assert client.delete("/models/loaded/canned@1", headers=admin).status_code == 404


def test_metrics_expose_model_performance_without_a_token(api: Api) -> None:
    client, admin, _ = api
    chat(client, admin, model="canned")
    text = client.get("/metrics").text
    assert 'smolit_model_requests_total{model="canned@1"} 1.0' in text
    assert 'smolit_model_completion_tokens_total{model="canned@1"} 3.0' in text
    assert "smolit_model_pool_budget_bytes" in text


def test_an_agent_on_an_alias_switches_version_without_restart(api: Api) -> None:
    client, admin, _ = api
    agent = {
        "name": "baking",
        "description": "bread cakes pastry oven baking",
        "examples": ["bake sourdough bread", "why did my cake sink"],
        "model": "canned@production",
    }
    assert client.post("/agents", json=agent, headers=admin).status_code == 201
    client.post("/models/canned/promote", json={"version": 1}, headers=admin)

    def ask() -> dict[str, Any]:
        task_id = client.post("/tasks", json={"text": "bake sourdough bread"}, headers=admin)
        task: dict[str, Any] = client.get(
            f"/tasks/{task_id.json()['id']}", params={"wait": 30}, headers=admin
        ).json()
        return task

    first = ask()
    assert (first["agent"], first["model"], first["answer"]) == (
        "baking",
        "canned@1",
        "one two three",
    )
    body = {
        "name": "canned",
        "definition": {"backend": "fake", "model": "new"},
        "alias": "production",
    }
    client.post("/models", json=body, headers=admin)
    second = ask()
    assert (second["model"], second["answer"]) == ("canned@2", "new")
