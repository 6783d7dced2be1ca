"""Task counts for the metrics, read from the database: by status and by agent, the last
minute's throughput, the latest finished tasks' latency and usage, and the ratings.

Counting every task at every scrape of every process would read the whole tasks table
each time, so the counts of finished tasks are rolled up (``TaskRollups``): one process of
the deployment adds the newly finished tasks to a stored total every
``system.metrics_rollup_interval`` seconds (the ``metric-rollups`` job), and a scrape
counts only the tasks that total does not cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from smolit.storage import Database, MetricRollupRow, TaskFeedbackRow, TaskRow
from smolit.storage.tables import as_utc, utcnow
from smolit.tasks.states import TaskStatus

#: latency, and cost per task, are measured over this many most recently finished tasks
WINDOW = 1000
QUANTILES = (0.5, 0.9, 0.95, 0.99)
#: tasks that ran to an outcome (cancelled ones are left out of rates)
OUTCOMES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT)


@dataclass
class TaskStatistics:
    by_status: dict[str, int] = field(default_factory=dict)
    by_agent: dict[str, dict[str, int]] = field(default_factory=dict)
    finished_last_minute: int = 0
    latencies: list[float] = field(default_factory=list)
    #: (model key, usage) of the recent window's tasks
    usage: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    ratings: int = 0
    mean_rating: float | None = None


#: the roll-up counts tasks that finished at least this long ago, so that a task whose
#: finish time was taken just before a roll-up but committed just after it is not missed
ROLLUP_MARGIN = timedelta(seconds=60)
ROLLUP_NAME = "tasks"

Counts = dict[str, int]


@dataclass
class FinishedCounts:
    """Tasks that finished at or before ``cutoff``, by status and by agent and status."""

    cutoff: datetime | None = None
    by_status: Counts = field(default_factory=dict)
    by_agent: dict[str, Counts] = field(default_factory=dict)

    def add(self, other: FinishedCounts) -> None:
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n
        for agent, counts in other.by_agent.items():
            mine = self.by_agent.setdefault(agent, {})
            for status, n in counts.items():
                mine[status] = mine.get(status, 0) + n

    def to_dict(self) -> dict[str, Any]:
        cutoff = self.cutoff.isoformat() if self.cutoff else None
        return {"cutoff": cutoff, "by_status": self.by_status, "by_agent": self.by_agent}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinishedCounts:
        cutoff = data.get("cutoff")
        return cls(
            as_utc(datetime.fromisoformat(cutoff)) if cutoff else None,
            {str(k): int(v) for k, v in data.get("by_status", {}).items()},
            {
                str(agent): {str(k): int(v) for k, v in counts.items()}
                for agent, counts in data.get("by_agent", {}).items()
            },
        )


def count_tasks(
    session: Session, after: datetime | None, upto: datetime | None = None
) -> FinishedCounts:
    """Tasks by status and by agent: those unfinished or finished after ``after`` (all
    when None), or with ``upto``, those finished in (``after``, ``upto``]."""
    conditions: list[ColumnElement[bool]] = []
    if upto is not None:
        conditions.append(TaskRow.finished_at <= upto)
        if after is not None:
            conditions.append(TaskRow.finished_at > after)
    elif after is not None:
        conditions.append(or_(TaskRow.finished_at.is_(None), TaskRow.finished_at > after))
    counts = FinishedCounts(upto)
    for status, count in session.execute(
        select(TaskRow.status, func.count()).where(*conditions).group_by(TaskRow.status)
    ):
        counts.by_status[str(status)] = int(count)
    for agent, status, count in session.execute(
        select(TaskRow.agent, TaskRow.status, func.count())
        .where(TaskRow.agent.is_not(None), *conditions)
        .group_by(TaskRow.agent, TaskRow.status)
    ):
        counts.by_agent.setdefault(str(agent), {})[str(status)] = int(count)
    return counts


def task_statistics(
    database: Database, window: int = WINDOW, rolled_up: FinishedCounts | None = None
) -> TaskStatistics:
    """The deployment's task statistics: ``rolled_up`` counts plus every task it does not
    cover (all tasks when None), the last minute's throughput, the latest ``window``
    finished tasks, and the ratings."""
    stats = TaskStatistics()
    now = datetime.now(UTC)
    finished = [s.value for s in (*OUTCOMES, TaskStatus.CANCELLED)]
    with database.session() as session:
        counts = FinishedCounts()
        if rolled_up is not None:
            counts.add(rolled_up)
        counts.add(count_tasks(session, rolled_up.cutoff if rolled_up else None))
        stats.by_status, stats.by_agent = counts.by_status, counts.by_agent
        stats.finished_last_minute = int(
            session.scalar(
                select(func.count()).where(
                    TaskRow.finished_at >= now - timedelta(minutes=1),
                    TaskRow.status.in_(finished),
                )
            )
            or 0
        )
        recent = session.execute(
            select(TaskRow.created_at, TaskRow.finished_at, TaskRow.model, TaskRow.usage)
            .where(TaskRow.finished_at.is_not(None), TaskRow.status.in_(finished))
            .order_by(TaskRow.finished_at.desc())
            .limit(window)
        ).all()
        count, mean = session.execute(
            select(func.count(TaskFeedbackRow.rating), func.avg(TaskFeedbackRow.rating))
        ).one()
    for created, ended, model, usage in recent:
        if ended is None:
            continue
        stats.latencies.append(max(0.0, (as_utc(ended) - as_utc(created)).total_seconds()))
        if model:
            stats.usage.append((str(model), dict(usage or {})))
    stats.ratings = int(count or 0)
    stats.mean_rating = float(mean) if mean is not None else None
    return stats


class TaskRollups:
    """Counts of finished tasks, rolled up once per interval for the whole deployment.

    ``refresh`` is the ``metric-rollups`` job: it adds the tasks that finished since the
    last roll-up's cutoff (up to ``ROLLUP_MARGIN`` ago) to the stored counts, so each run
    reads only the tasks of one interval. ``current`` adds the tasks the roll-up does not
    cover (unfinished, or finished after its cutoff) to it: exact and current at every
    scrape, at the cost of reading recent tasks only (``finished_at`` is indexed).
    """

    def __init__(self, database: Database, owner: str | None = None) -> None:
        self._database = database
        self._owner = owner

    def stored(self) -> FinishedCounts | None:
        with self._database.session() as session:
            row = session.get(MetricRollupRow, ROLLUP_NAME)
            return FinishedCounts.from_dict(row.data) if row is not None else None

    def refresh(self) -> FinishedCounts:
        """Roll the tasks finished since the last cutoff into the stored counts (blocking)."""
        cutoff = utcnow() - ROLLUP_MARGIN
        with self._database.session() as session:
            row = session.execute(
                select(MetricRollupRow).where(MetricRollupRow.name == ROLLUP_NAME).with_for_update()
            ).scalar_one_or_none()
            counts = FinishedCounts.from_dict(row.data) if row is not None else FinishedCounts()
            if counts.cutoff is not None and counts.cutoff >= cutoff:
                return counts  # another process rolled up this far already
            counts.add(count_tasks(session, counts.cutoff, cutoff))
            counts.cutoff = cutoff
            if row is None:
                row = MetricRollupRow(name=ROLLUP_NAME)
                session.add(row)
            row.data, row.computed_at, row.owner = counts.to_dict(), utcnow(), self._owner
        return counts

    def current(self) -> TaskStatistics:
        return task_statistics(self._database, rolled_up=self.stored())


def success_rate(counts: dict[str, int]) -> float | None:
    """Succeeded over tasks that ran to an outcome; None before any did."""
    ran = sum(counts.get(status.value, 0) for status in OUTCOMES)
    return counts.get(TaskStatus.SUCCEEDED.value, 0) / ran if ran else None
