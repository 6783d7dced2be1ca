"""``JobScheduler``: periodic jobs that run once per interval across the whole deployment.

Every process (server, workers) runs the same scheduler. Before a run, a process claims the
job with one conditional update (``last_started_at`` older than the interval); only one
process wins a given interval, on SQLite and PostgreSQL alike. Each job runs in a thread of
its own, so a long one (a knowledge re-sync) never holds up the others (re-queueing overdue
tasks); a process never runs two rounds of one job at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from smolit.storage import Database, ScheduledJobRow, affected
from smolit.storage.tables import utcnow

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
#: how long ``stop`` waits for running jobs
STOP_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[], Any]
    #: False: the first run anywhere comes one interval after the job is first seen
    run_at_start: bool = True


class JobScheduler:
    def __init__(
        self,
        database: Database,
        owner: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """``clock`` and ``sleep``: the time and how to wait (tests pass ones they advance)."""
        self._db = database
        self.owner = owner
        self._clock = clock
        self._sleep = sleep
        self._jobs: dict[str, Job] = {}
        self._loop: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[bool]] = {}

    @property
    def jobs(self) -> list[str]:
        return sorted(self._jobs)

    def add(
        self, name: str, interval: float, run: Callable[[], Any], run_at_start: bool = True
    ) -> None:
        """Run ``run`` every ``interval`` seconds somewhere in the deployment (0: never).

        ``run_at_start`` False: a job the deployment has never run waits one interval first.
        """
        if interval > 0:
            self._jobs[name] = Job(name, interval, run, run_at_start)

    def claim(self, job: Job) -> bool:
        """Whether this process won the right to run ``job`` now."""
        now = self._clock()
        cutoff = now - timedelta(seconds=job.interval)
        with self._db.session() as session:
            if session.get(ScheduledJobRow, job.name) is None:
                try:
                    with session.begin_nested():
                        session.add(
                            ScheduledJobRow(
                                name=job.name,
                                interval_seconds=job.interval,
                                runs=0,
                                last_started_at=None if job.run_at_start else now,
                            )
                        )
                except IntegrityError:
                    pass  # another process created it
            won = affected(
                session.execute(
                    update(ScheduledJobRow)
                    .where(
                        ScheduledJobRow.name == job.name,
                        or_(
                            ScheduledJobRow.last_started_at.is_(None),
                            ScheduledJobRow.last_started_at <= cutoff,
                        ),
                    )
                    .values(
                        last_started_at=now,
                        owner=self.owner,
                        interval_seconds=job.interval,
                        runs=ScheduledJobRow.runs + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
            )
            return bool(won == 1)

    def _finished(self, job: Job, error: str | None) -> None:
        with self._db.session() as session:
            session.execute(
                update(ScheduledJobRow)
                .where(ScheduledJobRow.name == job.name)
                .values(
                    last_finished_at=self._clock(),
                    last_status="error" if error else "ok",
                    last_error=error,
                )
            )

    def run_due(self) -> list[str]:
        """Run every job this process wins now, one after another; their names."""
        return [job.name for job in list(self._jobs.values()) if self.run_one(job)]

    def run_one(self, job: Job) -> bool:
        """Run ``job`` if this process wins its interval now; whether it ran (blocking)."""
        try:
            if not self.claim(job):
                return False
        except Exception:  # the database may be briefly gone
            logger.warning("cannot claim job %s", job.name, exc_info=True)
            return False
        error = None
        try:
            job.run()
        except Exception as exc:  # a job failing must not stop the others
            logger.exception("scheduled job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}"
        try:
            self._finished(job, error)
        except Exception:
            logger.warning("cannot record job %s", job.name, exc_info=True)
        return True

    def status(self) -> list[dict[str, Any]]:
        with self._db.session() as session:
            return [
                {
                    "name": row.name,
                    "interval_seconds": row.interval_seconds,
                    "runs": row.runs,
                    "owner": row.owner,
                    "last_started_at": row.last_started_at.isoformat()
                    if row.last_started_at
                    else None,
                    "last_finished_at": row.last_finished_at.isoformat()
                    if row.last_finished_at
                    else None,
                    "last_status": row.last_status,
                    "last_error": row.last_error,
                }
                for row in session.scalars(select(ScheduledJobRow).order_by(ScheduledJobRow.name))
            ]

    def start(self) -> None:
        if self._loop is None and self._jobs:
            self._loop = asyncio.create_task(self._tick(), name="scheduler")

    async def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Stop starting jobs; give the running ones ``wait`` seconds to finish (a job
        still running then goes on in its thread)."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        running = [task for task in self._running.values() if not task.done()]
        self._running.clear()
        if running:
            _, late = await asyncio.wait(running, timeout=wait)
            for task in late:
                logger.warning("job %s still running at stop", task.get_name())

    async def _tick(self) -> None:
        while True:
            for job in list(self._jobs.values()):
                running = self._running.get(job.name)
                if running is None or running.done():
                    self._running[job.name] = asyncio.create_task(
                        asyncio.to_thread(self.run_one, job), name=f"job-{job.name}"
                    )
            await self._sleep(TICK_SECONDS)
