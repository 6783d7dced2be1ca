"""Roll-ups of finished-task counts on SQLite and PostgreSQL: exact with any cutoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from smolit.metrics.task_counts import ROLLUP_MARGIN, TaskRollups
from smolit.storage import Database, TaskRow
from smolit.tasks.states import TaskStatus
from smolit.tasks.store import NewTask, TaskStore


def finish(
    database: Database, store: TaskStore, agent: str, status: TaskStatus, age: timedelta
) -> str:
    """A task that ended with ``status`` on ``agent``, ``age`` ago."""
    view, _ = asyncio.run(store.insert(NewTask("boil an egg", "alice", 1, 30, 3), requeue_after=60))
    claim = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert claim is not None
    assert asyncio.run(store.update_claimed(claim, status, agent=agent))
    with database.session() as session:
        row = session.get(TaskRow, view.id)
        assert row is not None and row.finished_at is not None
        session.execute(
            update(TaskRow).where(TaskRow.id == view.id).values(finished_at=row.finished_at - age)
        )
    return view.id


def test_rollups_add_up_with_the_live_tail(database: Database) -> None:
    store = TaskStore(database)
    rollups = TaskRollups(database, owner="p")
    old = 3 * ROLLUP_MARGIN
    finish(database, store, "cooking", TaskStatus.SUCCEEDED, old)
    finish(database, store, "travel", TaskStatus.FAILED, old)
    finish(database, store, "cooking", TaskStatus.SUCCEEDED, timedelta(0))  # recent: not rolled up
    asyncio.run(
        store.insert(NewTask("pack for Rome", "alice", 1, 30, 3), requeue_after=60)
    )  # queued

    rolled = rollups.refresh()
    assert rolled.by_status == {"succeeded": 1, "failed": 1}
    assert rolled.by_agent == {"cooking": {"succeeded": 1}, "travel": {"failed": 1}}
    stats = rollups.current()
    assert stats.by_status == {"succeeded": 2, "failed": 1, "queued": 1}
    assert stats.by_agent == {"cooking": {"succeeded": 2}, "travel": {"failed": 1}}

    # the next roll-up reads only what finished since the last cutoff
    assert rollups.refresh().by_status == {"succeeded": 1, "failed": 1}
    assert rollups.current().by_status == {"succeeded": 2, "failed": 1, "queued": 1}
    stored = rollups.stored()
    assert stored is not None and stored.cutoff is not None


def test_without_a_rollup_every_task_is_counted(database: Database) -> None:
    store = TaskStore(database)
    finish(database, store, "cooking", TaskStatus.TIMED_OUT, 3 * ROLLUP_MARGIN)
    stats = TaskRollups(database).current()
    assert stats.by_status == {"timed_out": 1}
    assert stats.latencies and stats.finished_last_minute == 0
