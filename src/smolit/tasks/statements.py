"""The task store's hot statements (submit, claim, state changes), built once.

Every task passes through these several times, so they are plain SQL on the tables with
named parameters: building a statement and its cache key for each call, or going through
the ORM's unit of work, costs more CPU than running the statement. Parameters named
``b_*`` are the conditions; the others are the values to set.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update

from smolit.storage import TaskEventRow, TaskRow

TASKS = cast(Table, TaskRow.__table__)
EVENTS = cast(Table, TaskEventRow.__table__)
#: the names a caller may set on a task
TASK_COLUMNS = frozenset(TASKS.c.keys())

#: a new task: execute with every column's value
INSERT_TASK = insert(TASKS)
#: a task event: task_id, status, worker, attempt, detail, created_at, kind
INSERT_EVENT = insert(EVENTS)

#: what a claim needs to know about the task ``b_id``
CLAIM_CHECK = select(
    TASKS.c.status,
    TASKS.c.attempts,
    TASKS.c.max_attempts,
    TASKS.c.not_before,
    TASKS.c.lease_until,
    TASKS.c.text,
    TASKS.c.timeout,
    TASKS.c.request_id,
).where(TASKS.c.id == bindparam("b_id"))

#: take the task ``b_id`` if it is still as the claimant saw it (``b_status``,
#: ``b_attempts``): one claimant wins
CLAIM = update(TASKS).where(
    TASKS.c.id == bindparam("b_id"),
    TASKS.c.status == bindparam("b_status"),
    TASKS.c.attempts == bindparam("b_attempts"),
)

#: change the task ``b_id`` while the claim ``b_token`` holds
UPDATE_CLAIMED = update(TASKS).where(
    TASKS.c.id == bindparam("b_id"), TASKS.c.claim_token == bindparam("b_token")
)

#: extend the lease of claim ``b_token`` on task ``b_id`` unless a cancel was requested
RENEW = update(TASKS).where(
    TASKS.c.id == bindparam("b_id"),
    TASKS.c.claim_token == bindparam("b_token"),
    TASKS.c.cancel_requested.is_(False),
)
