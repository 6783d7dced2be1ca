"""PostgreSQL and Redis lost during a distributed run: tasks wait, resume, and none is lost.

Both services keep running; a ``CuttableRelay`` sits between them and every smolit
process, and the test cuts it (open connections reset, new ones refused) and restores it,
as a network drop would. While the database is gone the API answers 503 naming it; while
the broker is gone submits are still accepted (stored, handed to the queue when it is
back). Every task submitted before, during and after the outages succeeds exactly once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import RedisServer
from tests.integration.fault_runs import config, counts, start_worker, stop_workers, wait_for
from tests.integration.server import RunningServer, start_server
from tests.integration.tcp_cut import CuttableRelay

pytestmark = pytest.mark.slow

BEFORE = 120  # submitted before the outages
DURING = 40  # submitted while the broker is cut
OUTAGE_SECONDS = 6.0


def submit_range(url: str, token: str, numbers: range) -> list[str]:
    """Submit each task; a failed submit is retried with its idempotency key for 60 s."""
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> str:
        body = {"text": f"How long do I boil egg number {i}?", "idempotency_key": f"k{i}"}
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.post("/tasks", json=body)
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                if response.status_code == 202:
                    return str(response.json()["id"])
                assert response.status_code == 503, response.text
                time.sleep(0.5)
        raise AssertionError(f"task {i} could not be submitted in 60 s")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, numbers))


def test_postgres_and_redis_lost_mid_run_lose_nothing(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    database = urlsplit(fresh_postgres_url)
    broker = urlsplit(redis_server.url)
    assert database.port is not None and broker.port is not None
    with CuttableRelay(database.port) as postgres_link, CuttableRelay(broker.port) as redis_link:
        storage = fresh_postgres_url.replace(f":{database.port}/", f":{postgres_link.port}/")
        queue = f"redis://127.0.0.1:{redis_link.port}/0"
        home = tmp_path / "home"
        server: RunningServer = start_server(
            home, config(0.1, f"queue: {queue}\nstorage: {storage}")
        )
        workers = [start_worker(home, tmp_path / f"worker{i}.log") for i in range(2)]
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        try:
            ids = submit_range(server.url, server.admin_token, range(BEFORE))
            wait_for(fresh_postgres_url, BEFORE // 4, 180)

            postgres_link.cut()
            time.sleep(1.0)
            lost = httpx.post(
                f"{server.url}/tasks", json={"text": "boil an egg"}, headers=headers, timeout=30
            )
            assert lost.status_code == 503, lost.text
            error = lost.json()["error"]
            assert error["type"] == "storage_unavailable"
            assert f"127.0.0.1:{postgres_link.port}" in error["message"]
            time.sleep(OUTAGE_SECONDS)
            postgres_link.restore()

            # cut the broker while tasks run: their acknowledgements fall in the outage
            statuses, _ = counts(fresh_postgres_url)
            wait_for(fresh_postgres_url, statuses.get("succeeded", 0) + 10, 120)
            redis_link.cut()
            ids += submit_range(server.url, server.admin_token, range(BEFORE, BEFORE + DURING))
            time.sleep(OUTAGE_SECONDS)
            redis_link.restore()

            total = BEFORE + DURING
            final = wait_for(fresh_postgres_url, total, 300)
            assert final == {"succeeded": total}, (
                final,
                (tmp_path / "worker0.log").read_text()[-3000:],
                server.log()[-3000:],
            )
            # both workers rode out the outages (none exited and left the work to the other)
            exited = [i for i, worker in enumerate(workers) if worker.poll() is not None]
            assert not exited, [(tmp_path / f"worker{i}.log").read_text()[-3000:] for i in exited]
        finally:
            stop_workers(workers)
            server.stop()
    statuses, successes = counts(fresh_postgres_url)
    assert statuses == {"succeeded": BEFORE + DURING}
    assert len(set(ids)) == BEFORE + DURING
    assert set(successes) == set(ids) and set(successes.values()) == {1}
