"""``TaskManager``: accepts tasks, persists them, runs them with bounded concurrency.

The database is the source of truth: the in-process queue carries task ids only, and on
start every task that was accepted but not finished is queued again, so a crash never
loses an accepted task.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from sqlalchemy import select

from smolit.agents.supervisor import Supervisor
from smolit.errors import NotFoundError, SmolitError, ValidationError
from smolit.routing.decision import RouteDecision
from smolit.security.tokens import Principal
from smolit.storage import Database, TaskRow
from smolit.storage.tables import utcnow
from smolit.tasks.states import UNFINISHED, TaskStatus
from smolit.tasks.view import TaskView

logger = logging.getLogger(__name__)

MAX_LIST_LIMIT = 500


def validate_task_text(text: Any, max_chars: int) -> str:
    if not isinstance(text, str):
        raise ValidationError("task text must be a string", details={"field": "text"})
    if not text.strip():
        raise ValidationError("task text is empty", details={"field": "text"})
    if len(text) > max_chars:
        raise ValidationError(
            f"task text is {len(text)} characters; the limit is {max_chars} "
            "(server.max_task_chars)",
            details={"field": "text", "limit": max_chars},
        )
    if "\x00" in text:
        raise ValidationError("task text contains a NUL character", details={"field": "text"})
    return text


class TaskManager:
    def __init__(
        self,
        database: Database,
        supervisor: Supervisor,
        max_concurrent_tasks: int = 10,
        task_timeout: float = 300,
        max_task_chars: int = 100_000,
    ) -> None:
        self._db = database
        self._supervisor = supervisor
        self._concurrency = max_concurrent_tasks
        self._timeout = task_timeout
        self._max_chars = max_task_chars
        self._queue: asyncio.Queue[str] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._done: dict[str, asyncio.Event] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> int:
        """Start the workers and queue every unfinished task again; returns how many."""
        self._queue = asyncio.Queue()
        pending = await asyncio.to_thread(self._recover)
        for task_id in pending:
            self._done.setdefault(task_id, asyncio.Event())
            self._queue.put_nowait(task_id)
        self._workers = [
            asyncio.create_task(self._work(), name=f"task-worker-{i}")
            for i in range(self._concurrency)
        ]
        if pending:
            logger.info("re-queued %d unfinished tasks", len(pending))
        return len(pending)

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def _recover(self) -> list[str]:
        with self._db.session() as session:
            rows = session.scalars(
                select(TaskRow)
                .where(TaskRow.status.in_([s.value for s in UNFINISHED]))
                .order_by(TaskRow.created_at)
            ).all()
            for row in rows:
                row.status = TaskStatus.QUEUED.value
            return [row.id for row in rows]

    # --- submit and read ---------------------------------------------------------------

    async def submit(self, text: str, principal: Principal) -> TaskView:
        if self._queue is None:
            raise SmolitError("the task manager is not running")
        text = validate_task_text(text, self._max_chars)
        row = TaskRow(
            id=str(uuid.uuid4()),
            text=text,
            status=TaskStatus.QUEUED.value,
            submitted_by=principal.user,
            out_of_scope=False,
            sources=[],
            timings={},
            attempts=0,
            timeout=self._timeout,
            created_at=utcnow(),
        )
        await asyncio.to_thread(self._insert, row)
        self._done[row.id] = asyncio.Event()
        self._queue.put_nowait(row.id)
        return TaskView.from_row(row)

    def _insert(self, row: TaskRow) -> None:
        with self._db.session() as session:
            session.add(row)

    def _load(self, task_id: str) -> TaskView | None:
        with self._db.session() as session:
            row = session.get(TaskRow, task_id)
            return TaskView.from_row(row) if row is not None else None

    async def get(self, task_id: str, principal: Principal, wait: float = 0) -> TaskView:
        """The task, after waiting up to ``wait`` seconds for it to finish."""
        view = await asyncio.to_thread(self._load, task_id)
        if view is None or not (principal.is_admin or view.submitted_by == principal.user):
            raise NotFoundError(f"no task with id {task_id!r}", details={"task_id": task_id})
        deadline = time.monotonic() + wait
        while not view.finished and (remaining := deadline - time.monotonic()) > 0:
            event = self._done.get(task_id)
            if event is None:  # finished meanwhile, or run by another process
                await asyncio.sleep(min(0.25, remaining))
            else:
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
            view = await asyncio.to_thread(self._load, task_id) or view
        return view

    def list(
        self, principal: Principal, limit: int = 50, status: str | None = None
    ) -> list[TaskView]:
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        query = select(TaskRow).order_by(TaskRow.created_at.desc()).limit(limit)
        if not principal.is_admin:
            query = query.where(TaskRow.submitted_by == principal.user)
        if status is not None:
            try:
                query = query.where(TaskRow.status == TaskStatus(status).value)
            except ValueError as exc:
                raise ValidationError(
                    f"unknown status {status!r}: one of {', '.join(s.value for s in TaskStatus)}"
                ) from exc
        with self._db.session() as session:
            return [TaskView.from_row(row) for row in session.scalars(query)]

    # --- execution ---------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            task_id = await self._queue.get()
            try:
                await self._run(task_id)
            except Exception:  # a worker must survive anything one task does
                logger.exception("task %s crashed its worker", task_id)
            finally:
                self._queue.task_done()
                event = self._done.pop(task_id, None)
                if event is not None:
                    event.set()

    def _update(self, task_id: str, **values: Any) -> None:
        with self._db.session() as session:
            row = session.get(TaskRow, task_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    async def _run(self, task_id: str) -> None:
        row = await asyncio.to_thread(self._update_start, task_id)
        if row is None:
            return
        text, timeout = row

        async def routed(decision: RouteDecision) -> None:
            await asyncio.to_thread(
                self._update,
                task_id,
                status=TaskStatus.RUNNING.value,
                route=decision.to_dict(),
                agent=decision.agent,
                out_of_scope=decision.out_of_scope,
            )

        try:
            outcome = await asyncio.wait_for(self._supervisor.handle(text, routed), timeout)
        except TimeoutError:
            await self._finish(task_id, TaskStatus.TIMED_OUT, error=f"task ran over {timeout} s")
            return
        except SmolitError as exc:
            await self._finish(task_id, TaskStatus.FAILED, error=exc.message)
            return
        except Exception as exc:
            logger.exception("task %s failed unexpectedly", task_id)
            await self._finish(
                task_id, TaskStatus.FAILED, error=f"internal error: {exc.__class__.__name__}"
            )
            return
        result = outcome.result
        route = outcome.decision.to_dict()
        if outcome.failures:
            route["failures"] = outcome.failures
        await self._finish(
            task_id,
            TaskStatus.SUCCEEDED,
            answer=outcome.answer(),
            agent=result.agent if result else None,
            model=result.model if result else None,
            out_of_scope=outcome.out_of_scope,
            route=route,
            sources=result.sources if result else [],
            timings={**outcome.timings, **(result.timings if result else {})},
        )

    def _update_start(self, task_id: str) -> tuple[str, float] | None:
        with self._db.session() as session:
            row = session.get(TaskRow, task_id)
            if row is None or TaskStatus(row.status).finished:
                return None
            row.status = TaskStatus.ROUTING.value
            row.started_at = utcnow()
            row.attempts += 1
            return row.text, row.timeout

    async def _finish(self, task_id: str, status: TaskStatus, **values: Any) -> None:
        await asyncio.to_thread(
            self._update, task_id, status=status.value, finished_at=utcnow(), **values
        )
