"""``TaskCollector``: task completion, latency and throughput (application), and the
business families: success rate, user satisfaction, resource efficiency, cost per task,
availability.

Counts come from the database, so every process (server or worker) reports the whole
deployment's tasks; efficiency and uptime are this process's own. Counting every task at
every scrape of every process would read the whole tasks table each time, so the counts of
finished tasks are rolled up (``TaskRollups``): one process of the deployment adds the
newly finished tasks to a stored total every ``system.metrics_rollup_interval`` seconds
(the ``metric-rollups`` job), and a scrape counts only the tasks that total does not cover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from smolit.errors import SmolitError
from smolit.models.manager import ModelManager
from smolit.monitor.resources import ResourceMonitor
from smolit.stats import percentile
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


class TaskCollector(Collector):
    def __init__(
        self,
        rollups: TaskRollups,
        models: ModelManager,
        monitor: ResourceMonitor,
        availability: Callable[[], dict[str, str | None]],
        finished_here: Callable[[], int],
    ) -> None:
        self._rollups = rollups
        self._models = models
        self._monitor = monitor
        self._availability = availability
        self._finished_here = finished_here

    def collect(self) -> Iterator[Metric]:
        stats = self._rollups.current()
        yield from self._completion(stats)
        yield from self._agents(stats)
        yield from self._business(stats)
        yield from self._availability_families()

    def _completion(self, stats: TaskStatistics) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("smolit_tasks", "Tasks by state", labels=["status"])
        for status in TaskStatus:
            tasks.add_metric([status.value], stats.by_status.get(status.value, 0))
        yield tasks
        ran = sum(stats.by_status.get(s.value, 0) for s in OUTCOMES)
        failed = ran - stats.by_status.get(TaskStatus.SUCCEEDED.value, 0)
        yield GaugeMetricFamily(
            "smolit_task_error_rate",
            "Failed or timed-out tasks over tasks that ran to an outcome",
            value=failed / ran if ran else 0.0,
        )
        yield GaugeMetricFamily(
            "smolit_task_throughput_per_minute",
            "Tasks finished in the last minute",
            value=stats.finished_last_minute,
        )
        latency = GaugeMetricFamily(
            "smolit_task_latency_seconds",
            f"Submit-to-finish time quantiles over the last {WINDOW} finished tasks",
            labels=["quantile"],
        )
        for q in QUANTILES:
            value = percentile(stats.latencies, q)
            if value is not None:
                latency.add_metric([str(q)], value)
        yield latency

    def _agents(self, stats: TaskStatistics) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "smolit_agent_tasks", "Tasks by agent and state", labels=["agent", "status"]
        )
        rate = GaugeMetricFamily(
            "smolit_agent_success_rate",
            "Per agent: succeeded over tasks that ran to an outcome",
            labels=["agent"],
        )
        for agent, counts in sorted(stats.by_agent.items()):
            for status, count in sorted(counts.items()):
                tasks.add_metric([agent, status], count)
            value = success_rate(counts)
            if value is not None:
                rate.add_metric([agent], value)
        yield from (tasks, rate)

    def _business(self, stats: TaskStatistics) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "smolit_task_success_rate",
            "Succeeded over tasks that ran to an outcome (all agents)",
            value=success_rate(stats.by_status) or 0.0,
        )
        yield CounterMetricFamily(
            "smolit_feedback_ratings", "Feedback records with a rating", value=stats.ratings
        )
        if stats.mean_rating is not None:
            yield GaugeMetricFamily(
                "smolit_user_satisfaction",
                "Mean feedback rating (1 to 5)",
                value=stats.mean_rating,
            )
        else:
            yield GaugeMetricFamily("smolit_user_satisfaction", "Mean feedback rating (1 to 5)")
        cpu = self._monitor.current().process_cpu_seconds
        finished = self._finished_here()
        yield CounterMetricFamily(
            "smolit_process_tasks_finished", "Tasks this process ran to an end", value=finished
        )
        yield GaugeMetricFamily(
            "smolit_tasks_per_cpu_second",
            "Tasks this process finished per CPU-second it (and its children) used",
            value=finished / cpu if cpu > 0 else 0.0,
        )
        yield GaugeMetricFamily(
            "smolit_cost_per_task",
            f"Mean model cost (configured rates) of the last {WINDOW} finished tasks",
            value=self._cost_per_task(stats.usage),
        )

    def _cost_per_task(self, usage: list[tuple[str, dict[str, int]]]) -> float:
        rates: dict[str, tuple[float, float] | None] = {}
        total, counted = 0.0, 0
        for model, tokens in usage:
            if model not in rates:
                rates[model] = self._rates(model)
            rate = rates[model]
            if rate is None:
                continue
            total += (
                tokens.get("prompt_tokens", 0) * rate[0]
                + tokens.get("completion_tokens", 0) * rate[1]
            ) / 1000
            counted += 1
        return total / counted if counted else 0.0

    def _rates(self, model: str) -> tuple[float, float] | None:
        try:
            definition = self._models.definition(model)
        except SmolitError:  # a version removed since: its cost is unknown
            return None
        return definition.cost_per_1k_prompt_tokens, definition.cost_per_1k_completion_tokens

    def _availability_families(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "smolit_uptime_seconds",
            "Seconds since this process started",
            value=self._monitor.uptime_seconds,
        )
        reasons = self._availability()
        available = GaugeMetricFamily(
            "smolit_agent_available", "1 when the agent can take work", labels=["agent"]
        )
        for agent, reason in sorted(reasons.items()):
            available.add_metric([agent], 1.0 if reason is None else 0.0)
        yield available
        up = sum(1 for reason in reasons.values() if reason is None)
        yield GaugeMetricFamily(
            "smolit_agents_available_ratio",
            "Agents that can take work over enabled agents",
            value=up / len(reasons) if reasons else 0.0,
        )
