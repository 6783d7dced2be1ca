"""An agent drives the tools of a real MCP server (``mcp_calc_server.py`` over stdio),
made once by the system from ``tools.sources``; the fake backend scripts the calls."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.config import ModelDefinition, Settings
from smolit.system import AgentNN
from smolit.testing import LookupEncoder

SERVER = Path(__file__).with_name("mcp_calc_server.py")
SCRIPT = [
    {
        "tool_calls": [
            {"name": "calc_add", "arguments": {"a": 2, "b": 3}},
            {"name": "calc_echo", "arguments": {"text": "hello"}},
        ]
    },
    "2 and 3 make 5.",
]


@pytest.fixture
def system(tmp_path: Path) -> AgentNN:
    settings = Settings(
        agents=[
            {
                "name": "maths",
                "description": "arithmetic sums",
                "examples": ["add two and three"],
                "model": "scripted",
                "tools": ["calc_add", "calc_echo"],
            }
        ],
        models={
            "default_model": "scripted",
            "definitions": {
                "scripted": ModelDefinition(backend="fake", options={"script": json.dumps(SCRIPT)})
            },
        },
        tools={
            "sources": [
                {
                    "factory": "mcp",
                    "settings": {
                        "servers": [
                            {"name": "calc", "command": sys.executable, "args": [str(SERVER)]}
                        ]
                    },
                }
            ]
        },
    )
    settings.home = tmp_path
    return AgentNN(settings, encoder=LookupEncoder(), environ={})


def test_an_agent_calls_the_tools_of_an_mcp_server(system: AgentNN) -> None:
    with TestClient(create_app(system)) as client:
        auth = {"Authorization": f"Bearer {system.tokens.create('root', 'admin').secret}"}
        task_id = client.post("/tasks", json={"text": "add two and three"}, headers=auth).json()[
            "id"
        ]
        task: dict[str, Any] = client.get(
            f"/tasks/{task_id}", params={"wait": 60}, headers=auth
        ).json()
    assert (task["status"], task["answer"]) == ("succeeded", "2 and 3 make 5.")
    add, echo = task["tool_calls"]
    assert (add["name"], add["is_error"], add["idempotent"]) == ("calc_add", False, True)
    assert json.loads(add["excerpt"]) == {"total": 5}
    assert (echo["name"], echo["excerpt"], echo["idempotent"]) == ("calc_echo", "hello", False)
