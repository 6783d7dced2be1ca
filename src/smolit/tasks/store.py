"""``TaskStore``: every task state change, as one atomic database write.

The database is the source of truth; queues only carry task ids. A worker *claims* a
task before running it: a conditional update that succeeds for one claimant only and gives
it a lease (``lease_until``) and a ``claim_token``. The worker renews the lease while it
runs; every later write names the token, so a worker that lost its claim (it stalled past
the lease and another took over) can no longer change the task. A task whose lease ran out
(its worker died) is claimable again; after ``max_attempts`` runs it fails with a reason.
Every change is also appended to ``task_events``.

Each write is one job for ``Database.write`` (awaited on the event loop; ``write_sync`` where
a method blocks): on SQLite concurrent writes share a transaction (group commit); a method
returns once its write is committed. Reads take no write turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smolit.errors import ConflictError, NotFoundError, ValidationError
from smolit.security.tokens import Principal
from smolit.storage import Database, TaskEventRow, TaskRow, affected
from smolit.storage.tables import as_utc, utcnow
from smolit.tasks import statements as sql
from smolit.tasks.states import CLAIMED, FINISHED, PRIORITIES, TaskStatus
from smolit.tasks.view import TaskView, owned_by, visible_to

MAX_LIST_LIMIT = 500
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Claim:
    """A worker's right to run one task, until ``lease_until`` unless renewed."""

    task_id: str
    token: str
    worker: str
    attempt: int
    text: str
    timeout: float
    #: the request that submitted it, so the run logs under the same id
    request_id: str | None = None


@dataclass(frozen=True)
class NewTask:
    text: str
    submitted_by: str
    priority: int
    timeout: float
    max_attempts: int
    idempotency_key: str | None = None
    request_id: str | None = None

    def request_hash(self) -> str:
        body = {"text": self.text, "priority": self.priority, "timeout": self.timeout}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _by_key(user: str, key: str) -> Select[TaskRow]:
    return select(TaskRow).where(TaskRow.submitted_by == user, TaskRow.idempotency_key == key)


def _same_request(row: TaskRow, digest: str, key: str) -> TaskView:
    if row.request_hash != digest:
        raise ConflictError(
            f"idempotency key {key!r} was already used for a different task ({row.id})",
            details={"idempotency_key": key, "task_id": row.id},
        )
    return TaskView.from_row(row)


class TaskStore:
    def __init__(self, database: Database, clock: Callable[[], datetime] = utcnow) -> None:
        """``clock``: the current time (tests pass one they advance)."""
        self._db = database
        self._clock = clock

    @property
    def database(self) -> Database:
        return self._db

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    def _event(
        self,
        session: Session,
        task_id: str,
        status: TaskStatus,
        attempt: int,
        worker: str | None = None,
        detail: str | None = None,
    ) -> None:
        session.execute(
            sql.INSERT_EVENT,
            {
                "task_id": task_id,
                "status": status.value,
                "worker": worker,
                "attempt": attempt,
                "detail": detail,
                "created_at": self._clock(),
                "kind": "status",
            },
        )

    # --- submit -------------------------------------------------------------------------

    async def insert(self, task: NewTask, requeue_after: float) -> tuple[TaskView, bool]:
        """Store a new queued task; (view, created). With an idempotency key already used
        by this submitter: the same request gives the stored task back (created False), a
        different one is a ``ConflictError``."""
        try:
            return await self._db.write(partial(self._insert, task, requeue_after))
        except IntegrityError as exc:  # another process stored the same key meanwhile
            return await asyncio.to_thread(self._after_race, task, exc)

    def _insert(
        self, task: NewTask, requeue_after: float, session: Session
    ) -> tuple[TaskView, bool]:
        digest = task.request_hash()
        if task.idempotency_key is not None:
            existing = session.scalar(_by_key(task.submitted_by, task.idempotency_key))
            if existing is not None:
                return _same_request(existing, digest, task.idempotency_key), False
        now = self._clock()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "text": task.text,
            "status": TaskStatus.QUEUED.value,
            "submitted_by": task.submitted_by,
            "out_of_scope": False,
            "sources": [],
            "timings": {},
            "attempts": 0,
            "timeout": task.timeout,
            "created_at": now,
            "priority": task.priority,
            "idempotency_key": task.idempotency_key,
            "request_hash": digest,
            "failures": [],
            "max_attempts": task.max_attempts,
            "lease_until": now + timedelta(seconds=requeue_after),
            "cancel_requested": False,
            "request_id": task.request_id,
            "usage": {},
            "tool_calls": [],
        }
        session.execute(sql.INSERT_TASK, values)
        self._event(session, values["id"], TaskStatus.QUEUED, 0, detail=f"priority {task.priority}")
        return TaskView.from_row(TaskRow(**values)), True

    def _after_race(self, task: NewTask, error: IntegrityError) -> tuple[TaskView, bool]:
        if task.idempotency_key is None:
            raise error
        with self._db.read() as session:
            existing = session.scalar(_by_key(task.submitted_by, task.idempotency_key))
        if existing is None:
            raise error
        return _same_request(existing, task.request_hash(), task.idempotency_key), False

    # --- read ---------------------------------------------------------------------------

    def load(self, task_id: str) -> TaskView | None:
        with self._db.read() as session:
            row = session.get(TaskRow, task_id)
            return TaskView.from_row(row) if row is not None else None

    def visible(self, task_id: str, principal: Principal) -> TaskView:
        view = self.load(task_id)
        if view is None or not visible_to(principal, view.submitted_by):
            raise NotFoundError(f"no task with id {task_id!r}", details={"task_id": task_id})
        return view

    def page(
        self,
        principal: Principal,
        *,
        limit: int = 50,
        status: str | None = None,
        agent: str | None = None,
        priority: str | None = None,
        before: str | None = None,
    ) -> tuple[list[TaskView], str | None]:
        """Newest first; ``before`` is the cursor a previous page returned (a task id).
        Returns the page and the cursor of the next one (None on the last page)."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        query = owned_by(select(TaskRow), principal)
        query = query.order_by(TaskRow.created_at.desc(), TaskRow.id.desc())
        if status is not None:
            query = query.where(TaskRow.status == _status(status).value)
        if agent is not None:
            query = query.where(TaskRow.agent == agent)
        if priority is not None:
            query = query.where(TaskRow.priority == parse_priority(priority))
        with self._db.read() as session:
            if before is not None:
                anchor = session.get(TaskRow, before)
                if anchor is None:
                    raise ValidationError(f"unknown cursor {before!r}", details={"before": before})
                query = query.where(
                    or_(
                        TaskRow.created_at < anchor.created_at,
                        and_(TaskRow.created_at == anchor.created_at, TaskRow.id < anchor.id),
                    )
                )
            rows = list(session.scalars(query.limit(limit + 1)))
            views = [TaskView.from_row(row) for row in rows[:limit]]
        cursor = views[-1].id if len(rows) > limit else None
        return views, cursor

    def events(self, task_id: str, after: int = 0) -> list[dict[str, Any]]:
        with self._db.read() as session:
            rows = session.scalars(
                select(TaskEventRow)
                .where(TaskEventRow.task_id == task_id, TaskEventRow.id > after)
                .order_by(TaskEventRow.id)
            )
            return [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "status": row.status,
                    "attempt": row.attempt,
                    "worker": row.worker,
                    "detail": row.detail,
                    "at": as_utc(row.created_at).isoformat(),
                }
                for row in rows
            ]

    # --- claims -------------------------------------------------------------------------

    async def claim(self, task_id: str, worker: str, lease: float) -> Claim | None:
        """Claim ``task_id`` for ``worker``; None when it is not claimable now.

        Claimable: queued (and past any retry delay), or claimed by a worker whose lease
        ran out. A task that already used all its attempts is failed instead.
        """
        return await self._db.write(partial(self._claim, task_id, worker, lease))

    def _claim(self, task_id: str, worker: str, lease: float, session: Session) -> Claim | None:
        now = self._clock()
        row = session.execute(sql.CLAIM_CHECK, {"b_id": task_id}).one_or_none()
        if row is None or not _claimable(row.status, row.not_before, row.lease_until, now):
            return None
        status, attempts = row.status, row.attempts
        if attempts >= row.max_attempts:
            self._exhausted(session, task_id, now)
            return None
        token = str(uuid.uuid4())
        won = affected(
            session.execute(
                sql.CLAIM,
                {
                    "b_id": task_id,
                    "b_status": status,
                    "b_attempts": attempts,
                    "status": TaskStatus.ROUTING.value,
                    "claimed_by": worker,
                    "claim_token": token,
                    "lease_until": now + timedelta(seconds=lease),
                    "attempts": attempts + 1,
                    "started_at": now,
                    "not_before": None,
                },
            )
        )
        if won != 1:
            return None
        detail = "resumed after its worker was lost" if status != "queued" else None
        self._event(session, task_id, TaskStatus.ROUTING, attempts + 1, worker, detail)
        return Claim(task_id, token, worker, attempts + 1, row.text, row.timeout, row.request_id)

    def _exhausted(self, session: Session, task_id: str, now: datetime) -> None:
        row = session.get(TaskRow, task_id)
        assert row is not None
        reason = f"interrupted: its worker was lost on each of {row.attempts} attempts"
        row.status = TaskStatus.FAILED.value
        row.error = reason
        row.finished_at = now
        row.failures = [*row.failures, {"attempt": row.attempts, "error": reason}]
        row.claim_token = None
        self._event(session, row.id, TaskStatus.FAILED, row.attempts, detail=reason)

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Extend the lease; False when the claim is lost or a cancel was requested."""
        return await self._db.write(partial(self._renew, claim, lease))

    def _renew(self, claim: Claim, lease: float, session: Session) -> bool:
        renewed = affected(
            session.execute(
                sql.RENEW,
                {
                    "b_id": claim.task_id,
                    "b_token": claim.token,
                    "lease_until": self._clock() + timedelta(seconds=lease),
                },
            )
        )
        return renewed == 1

    async def update_claimed(self, claim: Claim, status: TaskStatus | None, **values: Any) -> bool:
        """Write ``values`` (and ``status``) while the claim holds; False when it does not."""
        return await self._db.write(partial(self._update_claimed, claim, status, values))

    def _update_claimed(
        self, claim: Claim, status: TaskStatus | None, values: dict[str, Any], session: Session
    ) -> bool:
        if unknown := values.keys() - sql.TASK_COLUMNS:  # SQL would ignore them silently
            raise TypeError(f"not columns of a task: {', '.join(sorted(unknown))}")
        values = {"b_id": claim.task_id, "b_token": claim.token, **values}
        if status is not None:
            values["status"] = status.value
        if status is not None and status in FINISHED:
            values.update(finished_at=self._clock(), claim_token=None, lease_until=None)
        done = affected(session.execute(sql.UPDATE_CLAIMED, values))
        if done == 1 and status is not None:
            detail = values.get("error") if status in FINISHED else values.get("agent")
            self._event(session, claim.task_id, status, claim.attempt, claim.worker, detail)
        return done == 1

    async def fail_attempt(
        self, claim: Claim, error: str, transient: bool, backoff: float, requeue_after: float
    ) -> float | None:
        """Record a failed attempt. A transient failure with attempts left goes back to
        the queue after a backoff (returned, in seconds); otherwise the task fails."""
        job = partial(self._fail_attempt, claim, error, transient, backoff, requeue_after)
        return await self._db.write(job)

    def _fail_attempt(
        self,
        claim: Claim,
        error: str,
        transient: bool,
        backoff: float,
        requeue_after: float,
        session: Session,
    ) -> float | None:
        now = self._clock()
        row = session.get(TaskRow, claim.task_id)
        if row is None or row.claim_token != claim.token:
            return None
        failure = {
            "attempt": claim.attempt,
            "error": error,
            "transient": transient,
            "at": now.isoformat(),
        }
        row.failures = [*row.failures, failure]
        row.claim_token = None
        if transient and claim.attempt < row.max_attempts:
            delay: float = min(MAX_BACKOFF_SECONDS, backoff * 2 ** (claim.attempt - 1))
            row.status = TaskStatus.QUEUED.value
            row.not_before = now + timedelta(seconds=delay)
            row.lease_until = now + timedelta(seconds=delay + requeue_after)
            row.claimed_by = None
            detail = f"retry in {delay:.1f} s after: {error}"
            self._event(session, row.id, TaskStatus.QUEUED, claim.attempt, claim.worker, detail)
            return delay
        row.status = TaskStatus.FAILED.value
        row.error = error
        row.finished_at = now
        row.lease_until = None
        self._event(session, row.id, TaskStatus.FAILED, claim.attempt, claim.worker, error)
        return None

    # --- cancel -------------------------------------------------------------------------

    def cancel(self, task_id: str, principal: Principal) -> TaskView:
        """Cancel a task: a queued one at once, a running one when its worker next checks.

        ``ConflictError`` for a finished task.
        """
        self.visible(task_id, principal)
        return self._db.write_sync(partial(self._cancel, task_id, principal.user))

    def _cancel(self, task_id: str, user: str, session: Session) -> TaskView:
        now = self._clock()
        row = session.get(TaskRow, task_id)
        if row is None:
            raise NotFoundError(f"no task with id {task_id!r}", details={"task_id": task_id})
        status = TaskStatus(row.status)
        if status in FINISHED:
            raise ConflictError(
                f"task {task_id} is already {status.value}",
                details={"task_id": task_id, "status": status.value},
            )
        row.cancel_requested = True
        if status == TaskStatus.QUEUED or (
            status in CLAIMED and (row.lease_until is None or as_utc(row.lease_until) <= now)
        ):
            row.status = TaskStatus.CANCELLED.value
            row.finished_at = now
            row.error = f"cancelled by {user}"
            row.claim_token = None
            self._event(session, task_id, TaskStatus.CANCELLED, row.attempts, detail=row.error)
        session.flush()
        return TaskView.from_row(row)

    async def cancel_claimed(self, claim: Claim, user: str = "request") -> bool:
        return await self.update_claimed(
            claim, TaskStatus.CANCELLED, error=f"cancelled while running ({user})"
        )

    # --- recovery -----------------------------------------------------------------------

    def due(self, limit: int = 1000) -> list[tuple[str, int]]:
        """(id, priority) of tasks a queue should carry again: queued ones whose queue
        message may be lost (``lease_until`` passed) and claimed ones whose worker died."""
        now = self._clock()
        with self._db.read() as session:
            rows = session.execute(
                select(TaskRow.id, TaskRow.priority)
                .where(
                    TaskRow.status.in_([TaskStatus.QUEUED.value, *(s.value for s in CLAIMED)]),
                    or_(TaskRow.lease_until.is_(None), TaskRow.lease_until <= now),
                )
                .order_by(TaskRow.priority.desc(), TaskRow.created_at)
                .limit(limit)
            ).all()
            return [(str(task_id), int(priority)) for task_id, priority in rows]

    def touch_queued(self, task_ids: list[str], requeue_after: float) -> None:
        """Note that queued tasks were handed to the queue again just now."""
        if task_ids:
            self._db.write_sync(partial(self._touch_queued, task_ids, requeue_after))

    def _touch_queued(self, task_ids: list[str], requeue_after: float, session: Session) -> None:
        session.execute(
            update(TaskRow)
            .where(TaskRow.id.in_(task_ids), TaskRow.status == TaskStatus.QUEUED.value)
            .values(lease_until=self._clock() + timedelta(seconds=requeue_after))
            .execution_options(synchronize_session=False)
        )

    def unfinished(self) -> list[tuple[str, int, float]]:
        """(id, priority, seconds until it may run) of every unfinished task, most urgent
        first (embedded recovery at start)."""
        now = self._clock()
        with self._db.read() as session:
            rows = session.execute(
                select(TaskRow.id, TaskRow.priority, TaskRow.not_before)
                .where(TaskRow.status.not_in([s.value for s in FINISHED]))
                .order_by(TaskRow.priority.desc(), TaskRow.created_at)
            ).all()
        return [
            (
                str(task_id),
                int(priority),
                max(0.0, (as_utc(not_before) - now).total_seconds()) if not_before else 0.0,
            )
            for task_id, priority, not_before in rows
        ]

    def release_claims(self, worker: str) -> int:
        """Make every task ``worker`` holds claimable again at once (a clean restart of an
        embedded server: its previous run cannot still be working on them)."""
        return self._db.write_sync(partial(self._release_claims, worker))

    def _release_claims(self, worker: str, session: Session) -> int:
        return affected(
            session.execute(
                update(TaskRow)
                .where(
                    TaskRow.claimed_by == worker,
                    TaskRow.status.in_([s.value for s in CLAIMED]),
                )
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )
        )


def _claimable(
    status: str, not_before: datetime | None, lease_until: datetime | None, now: datetime
) -> bool:
    """Queued and past any retry delay, or claimed with its lease run out."""
    if TaskStatus(status) in FINISHED:
        return False
    if status == TaskStatus.QUEUED.value:
        return not_before is None or as_utc(not_before) <= now
    return lease_until is None or as_utc(lease_until) <= now


def _status(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError as exc:
        raise ValidationError(
            f"unknown status {value!r}: one of {', '.join(s.value for s in TaskStatus)}",
            details={"status": value},
        ) from exc


def parse_priority(value: str) -> int:
    try:
        return PRIORITIES[value]
    except KeyError as exc:
        raise ValidationError(
            f"unknown priority {value!r}: one of {', '.join(PRIORITIES)}",
            details={"priority": value},
        ) from exc
