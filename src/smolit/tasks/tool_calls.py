"""``ToolCallLog``: a task's tool calls in the database, and the task events announcing
them; ``TaskToolJournal``, the ``ToolJournal`` of one claimed run.

A call is written before it runs (state ``started``, event ``tool_call``) and completed
after (state ``finished``, event ``tool_result``), each write committed before the loop
goes on, so a run after a crash knows which calls may have happened. The whole result is
kept for non-idempotent calls only: a later attempt gives it to the model again instead of
repeating the call. Events carry the task's status ``running`` and, in ``detail``, the
call as JSON (arguments masked, a result excerpt).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smolit.agents.tool_records import ToolCallEntry
from smolit.storage import Database, TaskToolCallRow
from smolit.storage.tables import utcnow
from smolit.tasks import statements as sql
from smolit.tasks.states import TaskStatus
from smolit.tasks.store import Claim

TOOL_CALL = "tool_call"
TOOL_RESULT = "tool_result"


def _entry(row: TaskToolCallRow) -> ToolCallEntry:
    return ToolCallEntry(
        seq=row.seq,
        call_id=row.call_id,
        name=row.name,
        arguments=dict(row.arguments or {}),
        idempotent=row.idempotent,
        key=row.key,
        finished=row.state == "finished",
        excerpt=row.excerpt or "",
        is_error=row.is_error,
        duration_s=row.duration_s,
        bytes=row.bytes,
        note=row.note,
        result=row.result,
    )


class ToolCallLog:
    def __init__(self, database: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._clock = clock

    def journal(self, claim: Claim) -> TaskToolJournal:
        return TaskToolJournal(self, claim)

    def entries(self, task_id: str, attempts: range | None = None) -> list[ToolCallEntry]:
        """The task's calls in the order they were recorded, of ``attempts`` (all: None)."""
        query = select(TaskToolCallRow).where(TaskToolCallRow.task_id == task_id)
        if attempts is not None:
            query = query.where(
                TaskToolCallRow.attempt >= attempts.start, TaskToolCallRow.attempt < attempts.stop
            )
        with self._db.read() as session:
            rows = session.scalars(query.order_by(TaskToolCallRow.id)).all()
            return [_entry(row) for row in rows]

    async def started(self, claim: Claim, entry: ToolCallEntry) -> None:
        await self._db.write(partial(self._started, claim, entry))

    def _started(self, claim: Claim, entry: ToolCallEntry, session: Session) -> None:
        now = self._clock()
        session.add(
            TaskToolCallRow(
                task_id=claim.task_id,
                attempt=claim.attempt,
                seq=entry.seq,
                call_id=entry.call_id,
                name=entry.name,
                arguments=entry.arguments,
                key=entry.key,
                idempotent=entry.idempotent,
                state="started",
                is_error=False,
                duration_s=0.0,
                bytes=0,
                started_at=now,
            )
        )
        detail = {
            "seq": entry.seq,
            "id": entry.call_id,
            "name": entry.name,
            "arguments": entry.arguments,
            "idempotent": entry.idempotent,
        }
        self._event(session, claim, TOOL_CALL, detail, now)

    async def finished(self, claim: Claim, entry: ToolCallEntry) -> None:
        await self._db.write(partial(self._finished, claim, entry))

    def _finished(self, claim: Claim, entry: ToolCallEntry, session: Session) -> None:
        now = self._clock()
        session.execute(
            update(TaskToolCallRow)
            .where(
                TaskToolCallRow.task_id == claim.task_id,
                TaskToolCallRow.attempt == claim.attempt,
                TaskToolCallRow.seq == entry.seq,
                TaskToolCallRow.call_id == entry.call_id,
            )
            .values(
                state="finished",
                result=None if entry.idempotent else entry.result,
                excerpt=entry.excerpt,
                is_error=entry.is_error,
                note=entry.note,
                duration_s=entry.duration_s,
                bytes=entry.bytes,
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        detail = entry.to_dict()
        detail.pop("arguments")
        self._event(session, claim, TOOL_RESULT, detail, now)

    def _event(
        self, session: Session, claim: Claim, kind: str, detail: dict[str, Any], now: datetime
    ) -> None:
        session.execute(
            sql.INSERT_EVENT,
            {
                "task_id": claim.task_id,
                "status": TaskStatus.RUNNING.value,
                "worker": claim.worker,
                "attempt": claim.attempt,
                "detail": json.dumps(detail, ensure_ascii=False, default=str),
                "created_at": now,
                "kind": kind,
            },
        )


class TaskToolJournal:
    """The ``ToolJournal`` of one claimed run of a task."""

    def __init__(self, log: ToolCallLog, claim: Claim) -> None:
        self._log = log
        self._claim = claim

    async def previous(self) -> list[ToolCallEntry]:
        earlier = range(1, self._claim.attempt)
        return await asyncio.to_thread(self._log.entries, self._claim.task_id, earlier)

    async def started(self, entry: ToolCallEntry) -> None:
        await self._log.started(self._claim, entry)

    async def finished(self, entry: ToolCallEntry) -> None:
        await self._log.finished(self._claim, entry)
