"""``/cache`` in process, and ``python -m smolit.cache`` against a served API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import diskcache
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.api.routes import cache as cache_routes
from smolit.cache import CacheManager
from smolit.cache.embedding import SealedDisk, embedding_key
from smolit.cli.cache_cmd import main
from smolit.system import AgentNN
from tests.conftest import free_port
from tests.unit.helpers import TEST_KEY, small_system

#: the client, the cache, admin headers, user headers
CacheApi = tuple[TestClient, CacheManager, dict[str, str], dict[str, str]]


def cached_app(home: Path) -> tuple[AgentNN, FastAPI]:
    system = small_system(home)
    system.cache = CacheManager.from_settings(system.settings, key=TEST_KEY)
    app = create_app(system)
    app.include_router(cache_routes.router)
    return system, app


@pytest.fixture
def api(
    tmp_path: Path,
) -> Iterator[CacheApi]:
    system, app = cached_app(tmp_path)
    with TestClient(app) as client:
        admin = system.tokens.create("root", "admin").secret
        user = system.tokens.create("bob", "user").secret
        yield (
            client,
            system.cache,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {user}"},
        )


def test_stats_need_a_token(api: CacheApi) -> None:
    client, cache, _admin, user = api
    cache.memory.set("a", 1)
    assert client.get("/cache").status_code == 401
    body = client.get("/cache", headers=user).json()
    assert body["caches"]["memory"]["entries"] == 1


def test_stats_count_values_refused_from_a_shared_store(
    api: CacheApi,
) -> None:
    client, cache, _admin, user = api
    key = embedding_key("lookup:8", "1", "egg")
    with diskcache.Cache(str(cache.embedding.directory), disk=SealedDisk) as disk:
        disk.set(key, b"written without the deployment key")
    assert cache.embedding.get_many("lookup:8", "1", ["egg"], 8) == [None]
    body = client.get("/cache", headers=user).json()
    assert body["caches"]["embedding"]["rejected"] == 1


def test_clearing_needs_an_admin(api: CacheApi) -> None:
    client, cache, admin, user = api
    cache.memory.set("a", 1)
    assert client.delete("/cache?type=memory", headers=user).status_code == 403
    answer = client.delete("/cache?type=memory", headers=admin)
    assert answer.json() == {"cleared": {"memory": 1}}
    assert len(cache.memory) == 0


def test_clearing_an_unknown_type_is_a_422(
    api: CacheApi,
) -> None:
    client, _cache, admin, _user = api
    answer = client.delete("/cache?type=disk", headers=admin)
    assert answer.status_code == 422
    assert "valid types: memory, tensor, embedding, response" in answer.text


class _Server(uvicorn.Server):
    """Says when it accepts connections, so the test waits on an event, not a sleep."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets)
        self.ready.set()


def test_the_cli_clears_in_memory_caches_through_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    system, app = cached_app(tmp_path)
    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        assert server.ready.wait(120), "the server did not start"
        token = system.tokens.create("root", "admin").secret
        system.cache.memory.set("a", 1)
        with pytest.raises(SystemExit) as exited:
            main(
                ["clear", "--type", "memory", "--url", f"http://127.0.0.1:{port}", "--token", token]
            )
        assert exited.value.code == 0
        assert "memory (server): 1 entries removed" in capsys.readouterr().out
        assert len(system.cache.memory) == 0
    finally:
        server.should_exit = True
        thread.join(60)
