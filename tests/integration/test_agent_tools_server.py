"""An agent with tools over real HTTP: a `smolit serve` process configured from YAML
(`tools:` sources, an agent's `tools:`), the fake backend scripting a calculator call
through options.script, the task's record, its event stream and `smolit task show`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.server import RunningServer, start_server

SCRIPT = json.dumps(
    [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
        "6 times 7 is 42.",
    ]
)

CONFIG = f"""
models:
  default_model: fake
  definitions:
    fake: {{backend: fake}}
    scripted:
      backend: fake
      options: {{script: '{SCRIPT}'}}
tools:
  sources:
    - factory: calculator
  timeout_seconds: 10
agents:
  - name: maths
    description: Arithmetic, sums, products and percentages.
    examples:
      - What is 6 times 7?
      - What is 15 percent of 80?
    model: scripted
    tools: [calculator]
    max_steps: 3
  - name: travel
    description: Travel planning, flights, packing and passports.
    examples:
      - What should I pack for a week in Rome?
      - Do I need a visa for Japan?
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("home"), CONFIG)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def task(server: RunningServer) -> dict[str, Any]:
    with server.client() as client:
        task_id = client.post("/tasks", json={"text": "What is 6 times 7?"}).json()["id"]
        result: dict[str, Any] = client.get(f"/tasks/{task_id}", params={"wait": 120}).json()
        return result


def test_the_agent_calls_the_tool_and_answers(task: dict[str, Any]) -> None:
    assert (task["status"], task["agent"], task["answer"]) == (
        "succeeded",
        "maths",
        "6 times 7 is 42.",
    )
    [call] = task["tool_calls"]
    assert (call["name"], call["arguments"], call["excerpt"]) == (
        "calculator",
        {"expression": "6*7"},
        "42",
    )


def test_the_events_announce_the_call_and_its_result(
    server: RunningServer, task: dict[str, Any]
) -> None:
    with server.client() as client:
        stream = client.get(f"/tasks/{task['id']}/events", params={"wait": 5}).text
    events = [line[len("event: ") :] for line in stream.splitlines() if line.startswith("event:")]
    assert events.index("tool_call") < events.index("tool_result") < events.index("task")


def test_task_show_prints_the_call(server: RunningServer, task: dict[str, Any]) -> None:
    shown = server.cli("task", "show", task["id"])
    assert shown.returncode == 0, shown.stderr
    assert 'calculator({"expression": "6*7"})' in shown.stdout
    assert "-> 42" in shown.stdout
