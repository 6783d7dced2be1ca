"""Queues carry task ids only; the database says what each task is and where it stands.

``LocalQueue`` is the embedded mode's in-process priority queue. A ``RemoteQueue`` sends ids
to other processes (``smolit.distributed.celery_queue``: Celery on Redis, for ``smolit
worker``); ``smolit.tasks.queue_backends`` picks one from ``queue:``. Losing a queue message
never loses a task: the re-queue job hands every task whose lease ran out to the queue again.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Protocol


class TaskQueue(Protocol):
    def put(self, task_id: str, priority: int, delay: float = 0.0) -> None: ...


class RemoteQueue(TaskQueue, Protocol):
    """A queue other processes consume (the distributed mode)."""

    def check(self) -> None:
        """``ConfigError`` naming the queue when it cannot be reached."""


class LocalQueue:
    """Highest priority first, oldest first within a priority; delayed puts wait.

    Made on the event loop that reads it; ``put`` may be called from any thread (the
    re-queue job runs in one): off the loop it hands the put to the loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._timers: set[asyncio.TimerHandle] = set()

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop in this thread
            return False

    def put(self, task_id: str, priority: int, delay: float = 0.0) -> None:
        if not self._on_loop():
            self._loop.call_soon_threadsafe(self.put, task_id, priority, delay)
            return
        if delay > 0:
            loop = self._loop
            handle: asyncio.TimerHandle | None = None

            def later() -> None:
                if handle is not None:
                    self._timers.discard(handle)
                self.put(task_id, priority)

            handle = loop.call_later(delay, later)
            self._timers.add(handle)
            return
        self._queue.put_nowait((-priority, next(self._order), task_id))

    async def get(self) -> str:
        _, _, task_id = await self._queue.get()
        return task_id

    def task_done(self) -> None:
        self._queue.task_done()

    def qsize(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
