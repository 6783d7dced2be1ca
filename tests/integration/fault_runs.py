"""Shared parts of the fault runs: a slow fake model, workers, and counts from the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.integration.server import TWO_AGENTS


def config(delay: float, extra: str = "") -> str:
    """A task a killed process had taken (leased or only prefetched from the broker) comes
    back within seconds, not after the production defaults (30 s lease, 120 s requeue)."""
    return f"""
system: {{max_concurrent_tasks: 8, task_lease: 3, retry_backoff: 0.2, requeue_after: 10}}
models:
  default_model: slow
  definitions:
    slow: {{backend: fake, options: {{delay: {delay}}}}}
{extra}
{TWO_AGENTS}
"""


def counts(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Tasks per status, and per task the number of 'succeeded' events."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        statuses: dict[str, int] = dict(
            connection.execute(text("SELECT status, COUNT(*) FROM tasks GROUP BY status")).all()
        )
        successes: dict[str, int] = dict(
            connection.execute(
                text(
                    "SELECT task_id, COUNT(*) FROM task_events WHERE status = 'succeeded' "
                    "GROUP BY task_id"
                )
            ).all()
        )
    engine.dispose()
    return {str(k): int(v) for k, v in statuses.items()}, {
        str(k): int(v) for k, v in successes.items()
    }


def wait_for(database_url: str, done: int, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while True:
        statuses, _ = counts(database_url)
        finished = sum(n for s, n in statuses.items() if s not in ("queued", "routing", "running"))
        if finished >= done or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


def start_worker(home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SMOLIT_HOME": str(home)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "smolit", "worker", "--concurrency", "4"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
