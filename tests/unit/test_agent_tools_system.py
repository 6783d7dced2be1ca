"""Agents with tools through the whole system: configuration, the API (create, patch,
refusals), a task that calls tools (the fake backend scripted through options.script),
its record in ``GET /tasks/{id}`` and its events, knowledge_search and delegate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.config import AgentConfig, ModelDefinition, Settings
from smolit.errors import ConfigError
from smolit.system import AgentNN
from smolit.testing import LookupEncoder
from smolit.tools import Tool, ToolResult, ToolSpec

MATHS = {
    "name": "maths",
    "description": "arithmetic sums products numbers",
    "examples": ["what is 6 times 7"],
    "model": "scripted",
    "tools": ["calculator", {"name": "knowledge_search", "collections": ["facts"]}],
}
TRAVEL = {
    "name": "travel",
    "description": "travel trips flights hotels",
    "examples": ["book a flight to paris"],
    "model": "plain",
}


def settings(home: Path, script: list[Any], **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "agents": [AgentConfig(**MATHS), AgentConfig(**TRAVEL)],
        "models": {
            "default_model": "plain",
            "definitions": {
                "scripted": ModelDefinition(backend="fake", options={"script": json.dumps(script)}),
                "plain": ModelDefinition(backend="fake", model="the travel agent's answer"),
            },
        },
        "tools": {"sources": [{"factory": "calculator"}], "timeout_seconds": 20},
        **overrides,
    }
    result = Settings(**fields)
    result.home = home
    return result


def client_for(system: AgentNN) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        yield client, {"Authorization": f"Bearer {admin}"}


SCRIPT = [
    {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
    "6 times 7 is 42.",
]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    system = AgentNN(settings(tmp_path, SCRIPT), encoder=LookupEncoder(), environ={})
    yield from client_for(system)


def run_task(client: TestClient, auth: dict[str, str], text: str) -> dict[str, Any]:
    task_id = client.post("/tasks", json={"text": text}, headers=auth).json()["id"]
    task: dict[str, Any] = client.get(f"/tasks/{task_id}", params={"wait": 30}, headers=auth).json()
    return task


def test_a_task_calls_a_tool_and_shows_the_call(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    task = run_task(client, auth, "what is 6 times 7")
    assert (task["status"], task["agent"], task["answer"]) == (
        "succeeded",
        "maths",
        "6 times 7 is 42.",
    )
    [call] = task["tool_calls"]
    assert (call["name"], call["arguments"], call["excerpt"], call["is_error"]) == (
        "calculator",
        {"expression": "6*7"},
        "42",
        False,
    )


def test_the_event_stream_shows_the_call_and_its_result(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    task = run_task(client, auth, "what is 6 times 7")
    stream = client.get(f"/tasks/{task['id']}/events", params={"wait": 5}, headers=auth).text
    kinds = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event:")]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("task")
    assert kinds.count("status") >= 3


def test_an_agent_is_created_and_patched_with_tools(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    body = {
        "name": "helper",
        "description": "helps",
        "tools": ["calculator", {"name": "delegate"}],
        "tool_choice": "model",
        "max_steps": 4,
    }
    created = client.post("/agents", headers=auth, json=body)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert [tool["name"] for tool in agent["tools"]] == ["calculator", "delegate"]
    assert (agent["tool_choice"], agent["max_steps"], agent["max_tool_calls"]) == ("model", 4, None)
    patched = client.patch(
        "/agents/helper",
        headers=auth,
        json={"tools": [{"name": "calculator", "timeout_seconds": 5}], "max_tool_calls": 3},
    ).json()
    assert patched["tools"] == [
        {"name": "calculator", "timeout_seconds": 5.0, "max_result_bytes": None, "collections": []}
    ]
    assert patched["max_tool_calls"] == 3 and patched["tool_choice"] == "model"


def test_an_unknown_tool_is_refused_with_its_name(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    response = client.post(
        "/agents", headers=auth, json={"name": "x", "description": "x", "tools": ["teleport"]}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert "unknown tool 'teleport'" in error["message"]
    assert error["details"]["tool"] == "teleport"
    patched = client.patch("/agents/travel", headers=auth, json={"tools": ["teleport"]})
    assert patched.status_code == 422
    assert client.get("/agents/travel", headers=auth).json()["tools"] == []


def test_a_bound_over_the_installation_s_is_refused(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    tools = [{"name": "calculator", "timeout_seconds": 60}]
    response = client.patch("/agents/travel", headers=auth, json={"tools": tools})
    assert response.status_code == 422
    assert "over the installation's limit of 20 s" in response.json()["error"]["message"]


def test_an_agent_configured_with_an_unknown_tool_stops_the_start(tmp_path: Path) -> None:
    agents = [AgentConfig(**{**MATHS, "tools": ["calculator", "teleport"]})]
    system = AgentNN(settings(tmp_path, [], agents=agents), encoder=LookupEncoder(), environ={})
    with pytest.raises(ConfigError, match="unknown tool 'teleport'"):
        system.prepare()
    system.close()


def test_knowledge_search_reads_the_collections_the_agent_may_read(tmp_path: Path) -> None:
    script = [
        {
            "tool_calls": [
                {
                    "name": "knowledge_search",
                    "arguments": {"query": "boiling", "collection": "facts"},
                }
            ]
        },
        "found it",
    ]
    system = AgentNN(settings(tmp_path, script), encoder=LookupEncoder(), environ={})
    system.prepare()
    system.knowledge.add_document(
        "facts", "boiling", "Water boils at 100 degrees.", "notes/boiling.txt"
    )
    for client, auth in client_for(system):
        task = run_task(client, auth, "what is 6 times 7")
        [call] = task["tool_calls"]
        assert not call["is_error"], call
        assert call["excerpt"].startswith('{"collection": "facts", "hits": [{"title": "boiling"')


def test_delegate_asks_another_agent_one_level_deep(tmp_path: Path) -> None:
    script = [
        {
            "tool_calls": [
                {"name": "delegate", "arguments": {"agent": "travel", "question": "a flight?"}}
            ]
        },
        "the travel agent says so",
    ]
    maths = AgentConfig(**{**MATHS, "tools": ["delegate"]})
    travel = AgentConfig(**{**TRAVEL, "tools": ["delegate"]})
    system = AgentNN(
        settings(tmp_path, script, agents=[maths, travel]), encoder=LookupEncoder(), environ={}
    )
    for client, auth in client_for(system):
        task = run_task(client, auth, "what is 6 times 7")
        [call] = task["tool_calls"]
        assert (call["name"], call["idempotent"], call["is_error"]) == ("delegate", False, False)
        assert '"answer": "the travel agent\'s answer"' in call["excerpt"]
        assert task["answer"] == "the travel agent says so"
        travel_spec = system.agents.get("travel")
        asked = system.toolbox.tools_for(travel_spec, system.knowledge)
        assert asked == []  # asked by another agent: no delegate of its own


class Stuck(Tool):
    def __init__(self) -> None:
        super().__init__(ToolSpec("stuck", "Never answers."))

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_task_that_times_out_in_a_call_keeps_the_call_in_its_record(tmp_path: Path) -> None:
    script = [{"tool_calls": [{"name": "stuck", "arguments": {}}]}, "never reached"]
    maths = AgentConfig(**{**MATHS, "tools": ["stuck"]})
    system = AgentNN(
        settings(tmp_path, script, agents=[maths, AgentConfig(**TRAVEL)]),
        encoder=LookupEncoder(),
        environ={},
    )
    system.tools.add(Stuck())
    for client, auth in client_for(system):
        body = {"text": "what is 6 times 7", "timeout": 0.5}
        task_id = client.post("/tasks", json=body, headers=auth).json()["id"]
        task = client.get(f"/tasks/{task_id}", params={"wait": 30}, headers=auth).json()
        assert task["status"] == "timed_out"
        [call] = task["tool_calls"]
        assert (call["name"], call["finished"]) == ("stuck", False)
