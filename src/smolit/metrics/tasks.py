"""``TaskCollector``: task completion, latency and throughput (application), and the
business families: success rate, user satisfaction, resource efficiency, cost per task,
availability.

Counts come from the database (``task_counts``), so every process (server or worker)
reports the whole deployment's tasks; efficiency and uptime are this process's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smolit.errors import SmolitError
from smolit.metrics.task_counts import (
    OUTCOMES,
    QUANTILES,
    WINDOW,
    TaskRollups,
    TaskStatistics,
    success_rate,
)
from smolit.models.manager import ModelManager
from smolit.monitor.resources import ResourceMonitor
from smolit.stats import percentile
from smolit.tasks.states import TaskStatus


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
