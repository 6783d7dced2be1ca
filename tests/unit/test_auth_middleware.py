"""Authentication from the headers, before the body: the ``Authentication`` middleware
and the token cache behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete

from smolit.api import create_app
from smolit.security.tokens import TokenService
from smolit.storage import ApiTokenRow
from smolit.system import AgentNN
from smolit.testing import FakeModel
from tests.unit.helpers import small_system


@pytest.fixture
def system(tmp_path: Path) -> Iterator[AgentNN]:
    system = small_system(tmp_path, FakeModel(default="fake answer"))
    system.prepare()
    yield system
    system.close()


def call(
    app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[list[dict[str, Any]], int]:
    """Send one request straight through the ASGI app; the messages sent back, and how
    often the app asked for the body."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent, asked


def test_an_upload_without_a_token_is_401_before_its_body_is_read(system: AgentNN) -> None:
    app = create_app(system, manage_lifecycle=False)
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"50000000")]
    sent, asked = call(app, "POST", "/knowledge/cooking/documents", headers)
    assert sent[0]["status"] == 401 and asked == 0
    assert b'"type":"unauthorized"' in sent[1]["body"]


def test_an_invalid_token_is_401_before_the_body_is_read(system: AgentNN) -> None:
    app = create_app(system, manage_lifecycle=False)
    headers = [(b"authorization", b"Bearer snn_wrong"), (b"content-length", b"900")]
    sent, asked = call(app, "POST", "/tasks", headers)
    assert sent[0]["status"] == 401 and asked == 0


def test_public_paths_need_no_token(system: AgentNN) -> None:
    with TestClient(create_app(system, manage_lifecycle=False)) as client:
        for path in ("/health", "/metrics", "/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 200, path


def test_a_request_authenticates_once(system: AgentNN, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = system.tokens.create("bob").secret
    calls: list[str | None] = []
    authenticate = system.tokens.authenticate

    def counted(value: str | None) -> Any:
        calls.append(value)
        return authenticate(value)

    monkeypatch.setattr(system.tokens, "authenticate", counted)
    with TestClient(create_app(system, manage_lifecycle=False)) as client:
        response = client.get("/agents", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and calls == [secret]


def test_a_valid_token_is_answered_from_the_cache(system: AgentNN) -> None:
    secret = system.tokens.create("bob").secret
    principal = system.tokens.authenticate(secret)
    with system.database.session() as session:  # a lookup now would find nothing
        session.execute(delete(ApiTokenRow))
    assert system.tokens.authenticate(secret) == principal


def test_a_revoke_in_this_process_takes_effect_at_once(system: AgentNN) -> None:
    issued = system.tokens.create("bob")
    system.tokens.authenticate(issued.secret)
    system.tokens.revoke(issued.id)
    assert system.tokens.cached(issued.secret) is None


def test_a_revoke_elsewhere_takes_effect_after_the_cache_time(system: AgentNN) -> None:
    now = [0.0]
    here = TokenService(system.database, cache_seconds=5, clock=lambda: now[0])
    elsewhere = TokenService(system.database)
    issued = here.create("bob")
    here.authenticate(issued.secret)
    elsewhere.revoke(issued.id)
    assert here.cached(issued.secret) is not None
    now[0] = 5.0
    assert here.cached(issued.secret) is None
