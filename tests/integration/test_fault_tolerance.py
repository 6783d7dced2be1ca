"""Kill things mid-run; every accepted task still succeeds, exactly once.

Embedded: a `smolit serve` process is SIGKILLed with tasks queued and running, then
started again. Distributed: Redis, PostgreSQL, a server and two `smolit worker` processes;
one worker is SIGKILLed mid-run. The fake model is slowed down so that the kill lands
while work is in flight; "exactly once" is read from the task event log in the database.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import RedisServer, start_redis
from tests.integration.fault_runs import config, counts, start_worker, stop_workers, wait_for
from tests.integration.server import RunningServer, start_server

pytestmark = pytest.mark.slow

TASKS = 300

TEXTS = ["How long do I boil an egg?", "What should I pack for Rome?"]


def submit_all(url: str, token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> str:
        body = {"text": f"{TEXTS[i % 2]} (#{i})", "idempotency_key": f"k{i}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for _ in range(5):  # a submit retried with its key never makes a second task
                try:
                    response = client.post("/tasks", json=body)
                    response.raise_for_status()
                    return str(response.json()["id"])
                except httpx.HTTPError:
                    time.sleep(0.5)
        raise AssertionError(f"task {i} could not be submitted")

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(TASKS)))


def assert_exactly_once(database_url: str, ids: list[str]) -> None:
    statuses, successes = counts(database_url)
    assert statuses == {"succeeded": TASKS}, statuses
    assert len(set(ids)) == TASKS
    assert set(successes) == set(ids) and set(successes.values()) == {1}


def test_embedded_server_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    database_url = f"sqlite:///{home / 'smolit.db'}"
    server = start_server(home, config(0.05))
    ids = submit_all(server.url, server.admin_token)
    wait_for(database_url, TASKS // 4, 120)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    statuses, _ = counts(database_url)
    assert statuses.get("succeeded", 0) < TASKS, "the kill came too late to test anything"
    restarted = start_server(home, config(0.05))
    try:
        wait_for(database_url, TASKS, 300)
    finally:
        restarted.stop()
    assert_exactly_once(database_url, ids)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.kill()


def test_distributed_worker_killed_mid_run_loses_nothing(
    tmp_path: Path, redis: RedisServer, fresh_postgres_url: str
) -> None:
    home = tmp_path / "home"
    extra = f"queue: {redis.url}\nstorage: {fresh_postgres_url}"
    server: RunningServer = start_server(home, config(0.1, extra))
    workers = [start_worker(home, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        ids = submit_all(server.url, server.admin_token)
        wait_for(fresh_postgres_url, TASKS // 4, 180)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        statuses, _ = counts(fresh_postgres_url)
        assert statuses.get("succeeded", 0) < TASKS, "the kill came too late to test anything"
        final = wait_for(fresh_postgres_url, TASKS, 300)
        assert final.get("succeeded") == TASKS, (
            final,
            (tmp_path / "worker1.log").read_text()[-3000:],
        )
    finally:
        stop_workers(workers)
        server.stop()
    assert_exactly_once(fresh_postgres_url, ids)
