"""``TaskView``: a task as callers see it (API, CLI, Python API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smolit.storage import TaskRow
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
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            priority=PRIORITY_NAMES.get(row.priority, str(row.priority)),
            failures=list(row.failures or []),
            max_attempts=row.max_attempts,
            cancel_requested=bool(row.cancel_requested),
            usage=dict(row.usage or {}),
            idempotency_key=row.idempotency_key,
            request_id=row.request_id,
        )

    @property
    def finished(self) -> bool:
        return self.status.finished

    def to_dict(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "text": self.text,
            "status": self.status.value,
            "submitted_by": self.submitted_by,
            "agent": self.agent,
            "model": self.model,
            "answer": self.answer,
            "out_of_scope": self.out_of_scope,
            "route": self.route,
            "sources": self.sources,
            "timings": self.timings,
            "error": self.error,
            "attempts": self.attempts,
            "created_at": stamp(self.created_at),
            "started_at": stamp(self.started_at),
            "finished_at": stamp(self.finished_at),
            "priority": self.priority,
            "failures": self.failures,
            "max_attempts": self.max_attempts,
            "cancel_requested": self.cancel_requested,
            "usage": self.usage,
            "idempotency_key": self.idempotency_key,
            "request_id": self.request_id,
        }
