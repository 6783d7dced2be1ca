"""``KnowledgeUpdater``: re-sync every source each ``knowledge.update_interval`` seconds.

An asyncio task started and stopped with the system; each round runs
``KnowledgeManager.sync_all`` in a worker thread, so the event loop never waits on file
reading or the encoder. Each source records its own status (see ``SourceSync``); a round
that fails as a whole is logged and the next round comes as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from smolit.knowledge.manager import KnowledgeManager

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class KnowledgeUpdater:
    """Syncs the sources of ``manager`` every ``interval`` seconds; 0 disables it."""

    def __init__(
        self, manager: KnowledgeManager, interval: float, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._manager = manager
        self.interval = interval
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (the first round comes after one interval); idempotent."""
        if self.interval <= 0 or self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="knowledge-updater")
        logger.info("knowledge sources re-sync every %g s", self.interval)

    async def stop(self) -> None:
        """Stop the loop; a round in progress finishes its current source in its thread."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> None:
        """One round: sync every source of every collection."""
        results = await asyncio.to_thread(self._manager.sync_all)
        self.rounds += 1
        failed = [source.id for source, _ in results if source.status == "error"]
        logger.info(
            "knowledge update round %d: %d sources synced, %d failed",
            self.rounds,
            len(results),
            len(failed),
        )

    async def _loop(self) -> None:
        while True:
            await self._sleep(self.interval)
            try:
                await self.run_once()
            except Exception:  # logged; the next round comes as usual
                logger.exception("knowledge update round failed")
