"""``TaskConsumer``: what every process that runs tasks does with one delivered task id.

Both modes use it: the embedded server's workers take ids from the in-process queue, and
``smolit worker`` gets them from Celery. For one delivery it claims and runs the task
through the ``TaskRunner`` (Supervisor, lease, cancel, outcome under the claim), then decides
on redelivery:

- finished, cancelled, or not claimable (another process has it): nothing more;
- a transient failure with attempts left: back on the queue after the retry backoff;
- the database unreachable: wait in place for up to ``database_wait`` seconds, trying again
  after each backoff, then back on the queue. A Celery delivery waits in place (its
  message stays unacknowledged and, with prefetch 1, the rest of the backlog stays in the
  broker instead of cycling through this worker as delayed messages that a broker outage
  would strand); the embedded queue puts the id back at once (``database_wait`` 0).

Putting an id back needs only the queue: when the queue is gone too, the task stays due in
the database and the re-queue job sends it once both are back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from smolit.tasks.queues import TaskQueue
from smolit.tasks.runner import RunOutcome, TaskRunner
from smolit.tasks.states import PRIORITIES
from smolit.tasks.store import TaskStore

logger = logging.getLogger(__name__)

#: ``smolit worker``: how long a delivery waits in place for an unreachable database
DATABASE_WAIT_SECONDS = 60.0
#: waits ``seconds`` unless the process begins to stop; whether it is stopping
Pause = Callable[[float], Awaitable[bool]]


class TaskConsumer:
    def __init__(
        self,
        runner: TaskRunner,
        store: TaskStore,
        queue: Callable[[], TaskQueue],
        *,
        database_wait: float = 0.0,
        pause: Pause | None = None,
    ) -> None:
        """``queue``: where redeliveries go (looked up at each one: the embedded queue is
        made at start); ``pause``: how to wait between tries (tests pass a clock's)."""
        self.runner = runner
        self._store = store
        self._queue = queue
        self.database_wait = database_wait
        self.stopping = asyncio.Event()
        self._pause_for = pause or self._pause

    async def _pause(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def consume(self, task_id: str, priority: int | None = None) -> RunOutcome:
        """Run one delivery of ``task_id``; ``priority``: the message's own (None: the
        task's stored one), used when it goes back on the queue."""
        waited = 0.0
        while True:
            outcome = await self.runner.run(task_id)
            if outcome.retry_in is None:
                return outcome
            if (
                outcome.database_down
                and waited < self.database_wait
                and not await self._pause_for(outcome.retry_in)
            ):
                waited += outcome.retry_in
                continue
            await self._send_again(task_id, priority, outcome.retry_in)
            return outcome

    async def _send_again(self, task_id: str, priority: int | None, delay: float) -> None:
        if priority is None:
            try:
                view = await asyncio.to_thread(self._store.load, task_id)
            except Exception:  # the database is gone: the queue still takes it
                view = None
            priority = PRIORITIES[view.priority] if view else PRIORITIES["normal"]
        try:
            await asyncio.to_thread(self._queue().put, task_id, priority, delay)
        except Exception as exc:  # kombu raises many kinds of connection errors
            logger.warning(
                "task %s: cannot send it again (%s); the re-queue job will", task_id, exc
            )
