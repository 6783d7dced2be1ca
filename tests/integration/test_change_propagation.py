"""Changes made through one server reach running `smolit worker` processes, no restart.

Redis, PostgreSQL, a server and two workers: an agent added through the API is advertised
by both workers and a task routed to it runs on one of them; an agent changed or removed
is seen by both; a router reload on the server makes the workers route with the new
checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smolit.config import load_settings
from smolit.encoding.sentence import bundled_minilm_path
from smolit.routing.checkpoints import RouterCheckpoints
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.model import RouterModel
from tests.conftest import RedisServer, start_redis
from tests.integration.fault_runs import config, start_worker, stop_workers
from tests.integration.server import RunningServer, start_server

pytestmark = pytest.mark.slow

GARDENING = {
    "name": "gardening",
    "description": "Gardening: plants, vegetables, watering, pruning and compost.",
    "examples": ["How often should I water the tomatoes?", "When do I prune roses?"],
}


def eventually(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def advertised(client: httpx.Client) -> list[set[str]]:
    workers = client.get("/workers").json()["workers"]
    return [set(w["agents"]) for w in workers if w["kind"] == "worker" and w["alive"]]


def run(client: httpx.Client, text: str) -> dict[str, Any]:
    """The finished task."""
    task = client.post("/tasks", json={"text": text}).json()
    done: dict[str, Any] = client.get(f"/tasks/{task['id']}", params={"wait": 60}).json()
    assert done["status"] not in ("queued", "routing", "running"), done
    return done


@pytest.fixture
def deployment(tmp_path: Path, fresh_postgres_url: str) -> Iterator[RunningServer]:
    redis: RedisServer = start_redis(tmp_path)
    home = tmp_path / "home"
    server = start_server(home, config(0.0, f"queue: {redis.url}\nstorage: {fresh_postgres_url}"))
    workers = [start_worker(home, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        with server.client() as client:
            assert eventually(lambda: len(advertised(client)) == 2, 180)
        yield server
    finally:
        stop_workers(workers)
        server.stop()
        redis.kill()


def test_agent_changes_and_router_reloads_reach_running_workers(
    deployment: RunningServer,
) -> None:
    with deployment.client() as client:
        assert client.post("/agents", json=GARDENING).status_code == 201
        assert eventually(lambda: all("gardening" in a for a in advertised(client)))
        assert run(client, "How often should I water the tomatoes?")["agent"] == "gardening"

        examples = [*GARDENING["examples"], "How do I fix a bicycle puncture?"]
        changed = {"description": "Gardening and bicycles.", "examples": examples}
        assert client.patch("/agents/gardening", json=changed).status_code == 200
        assert eventually(
            lambda: run(client, "How do I fix a bicycle puncture?")["agent"] == "gardening"
        )

        assert client.delete("/agents/gardening").status_code == 204
        assert eventually(lambda: not any("gardening" in a for a in advertised(client)))
        assert run(client, "How often should I water the tomatoes?")["agent"] != "gardening"

        encoder = MiniEncoder.from_pretrained(bundled_minilm_path(), layers=1, max_length=16)
        trained = RouterModel(
            encoder, ["cooking", "travel"], encoder.encode(["cooking", "travel"]), 20.0, 0.3
        )
        settings = load_settings(None, deployment.home)
        version = RouterCheckpoints.open(settings).register(trained)
        assert client.post("/router/reload").status_code == 200
        served = f"router@{version.version}"
        assert eventually(
            lambda: run(client, "How long do I boil an egg?")["route"]["router_version"] == served
        )
