"""Feedback on finished tasks: stored, then handed to the router to learn from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from smolit.errors import ConflictError, NotFoundError
from smolit.routing.base import Router
from smolit.routing.online import outcome_value
from smolit.security.tokens import Principal
from smolit.storage import Database, TaskFeedbackRow, TaskRow
from smolit.storage.tables import utcnow
from smolit.tasks.states import TaskStatus

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
            if task is None or not (principal.is_admin or task.submitted_by == principal.user):
                raise NotFoundError(f"no task with id {task_id!r}", details={"task_id": task_id})
            if task.status != TaskStatus.SUCCEEDED.value or task.agent is None:
                raise ConflictError(
                    f"task {task_id} has no agent's answer to rate (status {task.status}"
                    f"{', out of scope' if task.out_of_scope else ''})"
                )
            if session.get(TaskFeedbackRow, task_id) is not None:
                raise ConflictError(f"task {task_id} already has feedback")
            context = (task.route or {}).get("skill")
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
                    created_at=utcnow(),
                )
            )
            agent = task.agent
        self._router.learn(agent, context, value)
        return Feedback(task_id, agent, context, success, rating, value)

    def replay(self) -> int:
        """Teach a freshly started router the stored feedback, oldest first."""
        with self._db.session() as session:
            rows = session.execute(
                select(TaskFeedbackRow.agent, TaskFeedbackRow.context, TaskFeedbackRow.value)
                .order_by(TaskFeedbackRow.created_at.desc())
                .limit(REPLAY_LIMIT)
            ).all()
        for agent, context, value in reversed(rows):
            if agent:
                self._router.learn(agent, context, value)
        return len(rows)
