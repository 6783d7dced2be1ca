"""``TaskView``: a task as callers see it (API, CLI, Python API), and who may see it.

The store returns it; the API's ``TaskOut`` is built from it (``from_attributes``) and the
CLI prints the API's JSON, so a task's fields are named here and in the table only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select

from smolit.security.tokens import Principal
from smolit.storage import TaskRow
from smolit.storage.tables import as_utc
from smolit.tasks.states import PRIORITY_NAMES, TaskStatus


@dataclass(frozen=True)
class TaskView:
    id: str
    text: str
    status: TaskStatus
    submitted_by: str
    agent: str | None
    model: str | None
    answer: str | None
    out_of_scope: bool
    route: dict[str, Any] | None
    sources: list[dict[str, Any]]
    timings: dict[str, float]
    error: str | None
    attempts: int
    #: aware UTC times, whatever the database hands back
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    priority: str = "normal"
    failures: list[dict[str, Any]] = field(default_factory=list)
    max_attempts: int = 1
    cancel_requested: bool = False
    usage: dict[str, int] = field(default_factory=dict)
    idempotency_key: str | None = None
    request_id: str | None = None
    #: the tool calls of the run that finished it (``ToolCallEntry.to_dict``)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: TaskRow) -> TaskView:
        return cls(
            id=row.id,
            text=row.text,
            status=TaskStatus(row.status),
            submitted_by=row.submitted_by,
            agent=row.agent,
            model=row.model,
            answer=row.answer,
            out_of_scope=row.out_of_scope,
            route=row.route,
            sources=list(row.sources or []),
            timings=dict(row.timings or {}),
            error=row.error,
            attempts=row.attempts,
            created_at=as_utc(row.created_at),
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at),
            priority=PRIORITY_NAMES.get(row.priority, str(row.priority)),
            failures=list(row.failures or []),
            max_attempts=row.max_attempts,
            cancel_requested=bool(row.cancel_requested),
            usage=dict(row.usage or {}),
            idempotency_key=row.idempotency_key,
            request_id=row.request_id,
            tool_calls=list(row.tool_calls or []),
        )

    @property
    def finished(self) -> bool:
        return self.status.finished


def _aware(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def visible_to(principal: Principal, submitted_by: str) -> bool:
    """Users see only their own tasks; admins see every task. The one place this rule
    lives: ``owned_by`` is the same rule as a query filter."""
    return principal.is_admin or submitted_by == principal.user


def owned_by(query: Select[TaskRow], principal: Principal) -> Select[TaskRow]:
    """``query`` narrowed to the tasks ``principal`` may see (``visible_to``)."""
    return query if principal.is_admin else query.where(TaskRow.submitted_by == principal.user)
