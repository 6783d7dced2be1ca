"""``KnowledgeUpdater``: one re-sync round of every source, run as a deployment-wide job.

``AgentNN`` schedules ``sync`` as the ``knowledge-sync`` job every
``knowledge.update_interval`` seconds (0 disables it): one process of the deployment runs
each round, in a thread of its own, so the event loop never waits on file reading or the
encoder. Each source records its own status (see ``SourceSync``); a round that fails as a
whole is recorded as the job's error and the next round comes as usual.
"""

from __future__ import annotations

import logging

from smolit.knowledge.manager import KnowledgeManager

logger = logging.getLogger(__name__)

JOB_NAME = "knowledge-sync"


class KnowledgeUpdater:
    """Syncs every source of ``manager``; ``rounds`` counts the rounds this process ran."""

    def __init__(self, manager: KnowledgeManager) -> None:
        self._manager = manager
        self.rounds = 0

    def sync(self) -> int:
        """One round: sync every source of every collection; how many failed (blocking)."""
        results = self._manager.sync_all()
        self.rounds += 1
        failed = [source.id for source, _ in results if source.status == "error"]
        logger.info(
            "knowledge update round %d: %d sources synced, %d failed",
            self.rounds,
            len(results),
            len(failed),
        )
        return len(failed)
