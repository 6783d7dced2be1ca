"""Feedback on finished tasks: stored, then handed to the router to learn from."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from smolit.errors import ConflictError, NotFoundError
from smolit.routing.base import Router
from smolit.routing.online import outcome_value
from smolit.security.tokens import Principal
from smolit.storage import Database, TaskFeedbackRow, TaskRow
from smolit.storage.tables import as_utc, utcnow
from smolit.tasks.states import TaskStatus
from smolit.tasks.view import visible_to

REPLAY_LIMIT = 20_000


@dataclass(frozen=True)
class Feedback:
    task_id: str
    agent: str
    context: str | None
    success: bool | None
    rating: int | None
    value: float


class FeedbackService:
    def __init__(self, database: Database, router: Router) -> None:
        self._db = database
        self._router = router
        #: feedback this process's router has learned from (the newest time, and the task
        #: ids at exactly that time), so that ``sync`` learns each record once
        self._seen_until: datetime | None = None
        self._seen_at_edge: set[str] = set()
        self._lock = threading.Lock()

    def record(
        self,
        task_id: str,
        principal: Principal,
        success: bool | None,
        rating: int | None,
        comment: str | None = None,
    ) -> Feedback:
        value = outcome_value(success, rating)
        with self._db.session() as session:
            task = session.get(TaskRow, task_id)
            if task is None or not visible_to(principal, task.submitted_by):
                raise NotFoundError(f"no task with id {task_id!r}", details={"task_id": task_id})
            if task.status != TaskStatus.SUCCEEDED.value or task.agent is None:
                raise ConflictError(
                    f"task {task_id} has no agent's answer to rate (status {task.status}"
                    f"{', out of scope' if task.out_of_scope else ''})"
                )
            if session.get(TaskFeedbackRow, task_id) is not None:
                raise ConflictError(f"task {task_id} already has feedback")
            context = (task.route or {}).get("skill")
            created = utcnow()
            session.add(
                TaskFeedbackRow(
                    task_id=task_id,
                    user=principal.user,
                    agent=task.agent,
                    context=context,
                    success=success,
                    rating=rating,
                    value=value,
                    comment=comment,
                    created_at=created,
                )
            )
            agent = task.agent
        with self._lock:
            self._router.learn(agent, context, value, principal.user)
            self._mark_seen(task_id, created)
        return Feedback(task_id, agent, context, success, rating, value)

    def _mark_seen(self, task_id: str, created: datetime) -> None:
        if self._seen_until is None or created > self._seen_until:
            self._seen_until, self._seen_at_edge = created, {task_id}
        elif created == self._seen_until:
            self._seen_at_edge.add(task_id)

    def replay(self) -> int:
        """Teach a freshly started router the stored feedback, oldest first."""
        return self.sync()

    def sync(self) -> int:
        """Learn from feedback other processes stored since the last call (the router's
        feedback is shared through the database); returns how many records were new."""
        with self._lock:
            query = select(
                TaskFeedbackRow.task_id,
                TaskFeedbackRow.user,
                TaskFeedbackRow.agent,
                TaskFeedbackRow.context,
                TaskFeedbackRow.value,
                TaskFeedbackRow.created_at,
            )
            if self._seen_until is not None:
                query = query.where(TaskFeedbackRow.created_at >= self._seen_until)
            with self._db.session() as session:
                rows = session.execute(
                    # task id breaks ties, so every process replays in the same order
                    query.order_by(
                        TaskFeedbackRow.created_at.desc(), TaskFeedbackRow.task_id.desc()
                    ).limit(REPLAY_LIMIT)
                ).all()
            learned = 0
            for task_id, user, agent, context, value, created in reversed(rows):
                created = as_utc(created)
                if self._seen_until is not None and (
                    created < self._seen_until
                    or (created == self._seen_until and task_id in self._seen_at_edge)
                ):
                    continue
                if agent:  # with its user, so that replay weighs it as record did
                    self._router.learn(agent, context, value, user)
                    learned += 1
                self._mark_seen(task_id, created)
            return learned
