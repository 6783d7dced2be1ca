"""Shared state changed by one process reaches every other process within a poll.

Agents, the served router and model aliases live in the database, but each process keeps
what it uses in memory (the router's agent index, its loaded checkpoint, resolved model
references). A write bumps its kind's generation in the same transaction (``bump``); every
process runs a ``ChangeWatcher`` that reads the counters with one cheap SELECT every
``POLL_SECONDS`` and calls its handler for each kind whose generation moved. The process
that wrote applies the change at once as well, so it never waits for its own write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smolit.periodic import Sleep, repeat
from smolit.storage.database import Database, affected
from smolit.storage.tables import ChangeRow

logger = logging.getLogger(__name__)

AGENTS = "agents"
ROUTER = "router"
MODELS = "models"
POLL_SECONDS = 1.0


def bump(session: Session, kind: str) -> None:
    """Count one change of ``kind`` in ``session``'s transaction."""
    moved = affected(
        session.execute(
            update(ChangeRow)
            .where(ChangeRow.kind == kind)
            .values(generation=ChangeRow.generation + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        session.add(ChangeRow(kind=kind, generation=1))


def generations(database: Database) -> dict[str, int]:
    with database.session() as session:
        return {row.kind: row.generation for row in session.scalars(select(ChangeRow))}


class ChangeWatcher:
    """Calls ``handlers[kind]()`` (blocking, in a thread) when ``kind`` changed elsewhere."""

    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Callable[[], object]],
        *,
        interval: float = POLL_SECONDS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._db = database
        self._handlers = dict(handlers)
        self.interval = interval
        self._sleep = sleep
        self._seen: dict[str, int] | None = None

    def poll(self) -> list[str]:
        """Apply every change since the last poll; the kinds applied (blocking). The first
        poll only takes note of where the counters stand."""
        current = generations(self._db)
        if self._seen is None:
            self._seen = current
            return []
        changed = [k for k in self._handlers if current.get(k) != self._seen.get(k)]
        for kind in changed:
            try:
                self._handlers[kind]()
            except Exception:  # keep the old generation: try again at the next poll
                logger.warning("applying a change of %s failed", kind, exc_info=True)
                current[kind] = self._seen.get(kind, 0)
        self._seen = current
        return changed

    async def run(self) -> None:
        await repeat(self.poll, self.interval, "polling for changes", sleep=self._sleep)
