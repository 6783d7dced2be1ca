"""``WorkerHeartbeat``: a process that runs tasks advertises itself in the worker registry.

The embedded server (kind ``embedded``) and each ``smolit worker`` (kind ``worker``) write,
every ``HEARTBEAT_SECONDS``, the agents they can serve and how many tasks they are running;
the distributed servers route only to agents some live worker advertises.
"""

from __future__ import annotations

import asyncio
import logging

from smolit.agents.supervisor import Supervisor
from smolit.periodic import Sleep, repeat
from smolit.tasks.runner import TaskRunner
from smolit.tasks.worker_registry import WorkerRegistry

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


class WorkerHeartbeat:
    def __init__(
        self,
        registry: WorkerRegistry,
        supervisor: Supervisor,
        runner: TaskRunner,
        kind: str,
        concurrency: int,
        *,
        interval: float = HEARTBEAT_SECONDS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._registry = registry
        self._supervisor = supervisor
        self._runner = runner
        self.kind = kind
        self.concurrency = concurrency
        self.interval = interval
        self._sleep = sleep

    @property
    def worker_id(self) -> str:
        return self._runner.worker

    def advertise(self) -> None:
        """Write one heartbeat (blocking)."""
        reasons = self._supervisor.local_availability()
        agents = sorted(name for name, reason in reasons.items() if reason is None)
        self._registry.heartbeat(
            self.worker_id, self.kind, agents, self.concurrency, len(self._runner.running)
        )

    async def run(self) -> None:
        await repeat(self.advertise, self.interval, "worker heartbeat", sleep=self._sleep)

    def withdraw(self) -> None:
        """Leave the registry on a graceful stop: until its heartbeat went stale, a restore
        would take this stopped process for a live one."""
        try:
            self._registry.remove(self.worker_id)
        except Exception:  # the database may be gone at shutdown
            logger.warning("cannot remove %s from the worker registry", self.worker_id)
