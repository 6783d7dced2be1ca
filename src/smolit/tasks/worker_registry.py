"""``WorkerRegistry``: processes that run tasks advertise themselves in the database.

(``WorkerHeartbeat`` writes the heartbeats; ``smolit.distributed.worker_process`` is the
``smolit worker`` process itself.)

Each worker (and the embedded server) writes a heartbeat with the agents it can serve and
how many tasks it is running. A worker whose heartbeat is older than ``stale_after`` is
considered gone; the supervisor treats an agent no live worker serves as unavailable.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from smolit.storage import Database, WorkerRow, affected
from smolit.storage.tables import as_utc, utcnow


class WorkerRegistry:
    def __init__(
        self,
        database: Database,
        stale_after: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``clock``: the current time (tests pass one they advance)."""
        self._db = database
        self.stale_after = stale_after
        self._clock = clock

    @staticmethod
    def new_id(kind: str) -> str:
        return f"{kind}@{socket.gethostname()}:{os.getpid()}"

    def heartbeat(
        self, worker_id: str, kind: str, agents: list[str], concurrency: int, running: int
    ) -> None:
        now = self._clock()
        with self._db.session() as session:
            row = session.get(WorkerRow, worker_id)
            if row is None:
                session.add(
                    WorkerRow(
                        id=worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        kind=kind,
                        agents=agents,
                        concurrency=concurrency,
                        running=running,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
                return
            row.agents, row.concurrency, row.running, row.heartbeat_at = (
                agents,
                concurrency,
                running,
                now,
            )

    def remove(self, worker_id: str) -> None:
        with self._db.session() as session:
            session.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))

    def list(self) -> list[dict[str, Any]]:
        now = self._clock()
        with self._db.session() as session:
            rows = session.scalars(select(WorkerRow).order_by(WorkerRow.id))
            return [
                {
                    "id": row.id,
                    "hostname": row.hostname,
                    "pid": row.pid,
                    "kind": row.kind,
                    "agents": list(row.agents or []),
                    "concurrency": row.concurrency,
                    "running": row.running,
                    "started_at": row.started_at.isoformat(),
                    "heartbeat_at": row.heartbeat_at.isoformat(),
                    "alive": self._alive(row, now),
                }
                for row in rows
            ]

    def _alive(self, row: WorkerRow, now: datetime) -> bool:
        return as_utc(row.heartbeat_at) >= now - timedelta(seconds=self.stale_after)

    def served_agents(self) -> set[str]:
        """Agents at least one live worker advertises."""
        now = self._clock()
        with self._db.session() as session:
            rows = session.scalars(select(WorkerRow))
            return {agent for row in rows if self._alive(row, now) for agent in row.agents or []}

    def prune(self, older_than: float = 86_400.0) -> int:
        """Forget workers silent for ``older_than`` seconds."""
        cutoff = self._clock() - timedelta(seconds=older_than)
        with self._db.session() as session:
            return int(
                affected(session.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < cutoff)))
            )
