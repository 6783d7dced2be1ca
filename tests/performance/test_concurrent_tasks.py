"""Correctness under load: many clients at once, every accepted task answered once."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server import RunningServer, start_server

CONFIG = """
system: {max_concurrent_tasks: 8}
models:
  default_model: fake
  definitions:
    fake: {backend: fake}
agents:
  - name: cooking
    description: Cooking and recipes.
    examples: ["How do I boil an egg?", "Give me a bread recipe"]
  - name: travel
    description: Travel and flights.
    examples: ["Book a flight to Rome", "What should I pack for a trip?"]
"""

CLIENTS = 16
TASKS_PER_CLIENT = 15


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("load"), CONFIG)
    yield running
    running.stop()


async def client_run(server: RunningServer, number: int) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as client:
        ids = []
        for i in range(TASKS_PER_CLIENT):
            text = (
                f"How do I boil egg number {number}-{i}?"
                if i % 2
                else f"Book flight {number}-{i} to Rome"
            )
            response = await client.post("/tasks", json={"text": text})
            assert response.status_code == 202
            ids.append(response.json()["id"])
        return [
            (await client.get(f"/tasks/{task_id}", params={"wait": 120})).json() for task_id in ids
        ]


def test_concurrent_clients_get_every_task_answered_once(
    server: RunningServer, tmp_path: Path
) -> None:
    async def everyone() -> list[list[dict[str, object]]]:
        return await asyncio.gather(*(client_run(server, n) for n in range(CLIENTS)))

    results = [task for batch in asyncio.run(everyone()) for task in batch]
    assert len(results) == CLIENTS * TASKS_PER_CLIENT
    assert len({task["id"] for task in results}) == len(results)
    assert {task["status"] for task in results} == {"succeeded"}
    assert all(task["attempts"] == 1 for task in results)
    for task in results:
        expected = "travel" if "flight" in str(task["text"]) else "cooking"
        assert task["agent"] == expected
        assert str(task["text"]) in str(task["answer"])
