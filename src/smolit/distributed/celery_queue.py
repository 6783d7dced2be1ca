"""``CeleryQueue``: task ids to Celery on a Redis broker, for ``smolit worker`` processes.

Registered for ``queue: redis://...`` and ``rediss://...`` in
``smolit.tasks.queue_backends``; our three priorities map onto Redis priority lists.
"""

from __future__ import annotations

from typing import Any

from smolit.config import Settings
from smolit.distributed.celery_app import RUN_TASK, check_broker, create_celery
from smolit.tasks.states import PRIORITIES

#: our priorities as Celery priorities on Redis (0 is served first), highest first
CELERY_PRIORITIES = {PRIORITIES["high"]: 0, PRIORITIES["normal"]: 3, PRIORITIES["low"]: 6}


def celery_priority(priority: int) -> int:
    """Our priority (2 high .. 0 low) as a Celery priority on Redis (0 is served first)."""
    return CELERY_PRIORITIES.get(priority, CELERY_PRIORITIES[PRIORITIES["low"]])


def priority_from_celery(value: int | None) -> int:
    """The inverse of ``celery_priority`` (a message's own priority, to send it again)."""
    if value is None:
        return PRIORITIES["normal"]
    for priority, step in CELERY_PRIORITIES.items():
        if value <= step:
            return priority
    return PRIORITIES["low"]


class CeleryQueue:
    """Sends ``smolit.run_task`` messages; ``app`` is the Celery application."""

    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self._url = url

    @classmethod
    def from_settings(cls, settings: Settings) -> CeleryQueue:
        return cls(create_celery(settings), settings.queue)

    def put(self, task_id: str, priority: int, delay: float = 0.0) -> None:
        self.app.send_task(
            RUN_TASK,
            args=[task_id],
            priority=celery_priority(priority),
            countdown=delay if delay > 0 else None,
        )

    def check(self) -> None:
        check_broker(self.app, self._url)
