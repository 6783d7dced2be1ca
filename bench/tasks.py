"""Task throughput: embedded and distributed, end to end over real HTTP.

- ``embedded``: one ``smolit serve`` with the fake model at 20 ms per call; 32 concurrent
  clients submit ``--tasks`` tasks as fast as they can (end-to-end throughput: first
  submit to last stored result; target >= 100 tasks/s), then the same number paced at
  ``--rate`` tasks/s (submit latency p50/p99 at that load; target p99 <= 50 ms). Closed-loop
  latency is reported too: with 32 clients always waiting, it is 32 / submit rate.
- ``distributed``: Redis (a private ``redis-server``), PostgreSQL (a fresh database at
  127.0.0.1:5432), one server, then one and then two ``smolit worker`` processes with the
  fake model at 100 ms per call; reports both throughputs and their ratio (target >= 1.8).

Routing uses the real encoder (the base MiniLM router). Prints one JSON object.

    python -m bench.tasks [--tasks 1000] [--rate 100] [--skip-embedded | --skip-distributed]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from tests.conftest import POSTGRES_ADMIN_URL, start_redis
from tests.integration.server import TWO_AGENTS, start_server

from smolit.stats import percentile

TEXTS = ["How long do I boil an egg?", "What should I pack for Rome?"]
CLIENTS = 32


def config(delay: float, concurrency: int, extra: str = "") -> str:
    return (
        f"system: {{max_concurrent_tasks: {concurrency}, log_level: WARNING}}\n"
        f"models:\n  default_model: slow\n  definitions:\n"
        f"    slow: {{backend: fake, options: {{delay: {delay}}}}}\n{extra}\n{TWO_AGENTS}"
    )


def submit(
    url: str, token: str, count: int, rate: float | None = None
) -> tuple[list[float], float]:
    """Submit ``count`` tasks from CLIENTS threads, as fast as they can or at ``rate`` per
    second in all (open loop: task i is due at start + i / rate); (latencies, start)."""
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(CLIENTS)]
    started = time.perf_counter()

    def one(i: int) -> float:
        if rate is not None:
            time.sleep(max(0.0, started + i / rate - time.perf_counter()))
        began = time.perf_counter()
        clients[i % CLIENTS].post("/tasks", json={"text": TEXTS[i % 2]}).raise_for_status()
        return time.perf_counter() - began

    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = list(pool.map(one, range(count)))
    for client in clients:
        client.close()
    return latencies, started


def finished_count(database_url: str) -> int:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        done = connection.execute(
            text("SELECT COUNT(*) FROM tasks WHERE status = 'succeeded'")
        ).scalar_one()
    engine.dispose()
    return int(done)


def wait_done(database_url: str, count: int, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while finished_count(database_url) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all {count} tasks finished in {timeout} s")
        time.sleep(0.1)
    return time.perf_counter()


def p99_ms(seconds: list[float]) -> float:
    """The 99th percentile of submit latencies, in milliseconds."""
    value = percentile(seconds, 0.99)
    if value is None:
        raise ValueError("no submit latencies were measured")
    return round(1000 * value, 2)


def embedded(tasks: int, rate: float) -> dict[str, Any]:
    """Closed loop (clients submit as fast as they can): end-to-end throughput. Open loop
    at ``rate`` tasks/s from the same 32 clients: submit latency at that load."""
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        server = start_server(home, config(0.02, 32))
        try:
            database = f"sqlite:///{home / 'smolit.db'}"
            submit(server.url, server.admin_token, 20)  # warm-up
            wait_done(database, 20)
            done = 20
            flood, started = submit(server.url, server.admin_token, tasks)
            ended = wait_done(database, done + tasks)
            paced, _ = submit(server.url, server.admin_token, tasks, rate=rate)
            wait_done(database, done + 2 * tasks)
        finally:
            server.stop()
    return {
        "tasks": tasks,
        "clients": CLIENTS,
        "model_ms": 20,
        "throughput_per_s": round(tasks / (ended - started), 1),
        "closed_loop_submit_ms_p50": round(1000 * statistics.median(flood), 2),
        "closed_loop_submit_ms_p99": p99_ms(flood),
        "paced_rate_per_s": rate,
        "submit_ms_p50": round(1000 * statistics.median(paced), 2),
        "submit_ms_p99": p99_ms(paced),
    }


def fresh_database() -> tuple[str, str]:
    name = f"smolit_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def distributed_run(workers: int, tasks: int, concurrency: int) -> float:
    """Throughput (tasks/s) of ``workers`` worker processes on a fresh deployment."""
    name, database = fresh_database()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        redis = start_redis(home)
        server = start_server(
            home, config(0.1, concurrency, f"queue: {redis.url}\nstorage: {database}")
        )
        env = {**os.environ, "SMOLIT_HOME": str(home)}
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "smolit", "worker", f"--concurrency={concurrency}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            submit(server.url, server.admin_token, 8 * workers)  # warm-up: every worker ready
            wait_done(database, 8 * workers)
            _, started = submit(server.url, server.admin_token, tasks)
            ended = wait_done(database, tasks + 8 * workers)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
            server.stop()
            redis.kill()
            drop_database(name)
    return tasks / (ended - started)


def distributed(tasks: int, concurrency: int) -> dict[str, Any]:
    one = distributed_run(1, tasks, concurrency)
    two = distributed_run(2, tasks, concurrency)
    return {
        "tasks": tasks,
        "model_ms": 100,
        "worker_concurrency": concurrency,
        "one_worker_per_s": round(one, 1),
        "two_workers_per_s": round(two, 1),
        "speedup": round(two / one, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--distributed-tasks", type=int, default=400)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="paced submits per second")
    parser.add_argument("--skip-distributed", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    if not args.skip_embedded:
        report["embedded"] = embedded(args.tasks, args.rate)
    if not args.skip_distributed:
        report["distributed"] = distributed(args.distributed_tasks, args.worker_concurrency)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
