"""Collectors read state at scrape time, so a scrape costs nothing between scrapes.

Each collector owns one area; ``render_metrics`` puts a system's collectors in a private
registry (never the process-global one: tests build many systems in one process).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smolit.agents.supervisor import Supervisor
from smolit.cache import CacheCollector, CacheManager
from smolit.errors import ConfigError
from smolit.metrics.resources import ResourceCollector
from smolit.metrics.task_counts import TaskRollups
from smolit.metrics.tasks import TaskCollector
from smolit.models.manager import ModelManager
from smolit.models.stats import task_success_by_model
from smolit.monitor.resources import ResourceMonitor
from smolit.storage import Database
from smolit.tasks.manager import TaskManager
from smolit.units import MIB


class _System(Protocol):
    models: ModelManager
    database: Database
    cache: CacheManager
    resources: ResourceMonitor
    supervisor: Supervisor
    tasks: TaskManager
    task_rollups: TaskRollups


class ModelCollector(Collector):
    """Per model version: requests, errors, latency and time-to-first-token quantiles,
    tokens, tokens/s, cost, task success rate; the pool's resident memory and budget."""

    def __init__(self, models: ModelManager, database: Database) -> None:
        self._models = models
        self._database = database

    def collect(self) -> Iterator[Metric]:
        labels = ["model"]
        requests = CounterMetricFamily("smolit_model_requests", "Model calls", labels=labels)
        errors = CounterMetricFamily("smolit_model_errors", "Failed model calls", labels=labels)
        prompt = CounterMetricFamily("smolit_model_prompt_tokens", "Prompt tokens", labels=labels)
        completion = CounterMetricFamily(
            "smolit_model_completion_tokens", "Completion tokens", labels=labels
        )
        cost = CounterMetricFamily("smolit_model_cost", "Cost (configured rates)", labels=labels)
        speed = GaugeMetricFamily(
            "smolit_model_tokens_per_second", "Completion tokens per second", labels=labels
        )
        latency = GaugeMetricFamily(
            "smolit_model_latency_seconds",
            "Call latency quantiles over the last calls",
            labels=["model", "quantile"],
        )
        first = GaugeMetricFamily(
            "smolit_model_first_token_seconds",
            "Time to first token quantiles over the last calls",
            labels=["model", "quantile"],
        )
        for key in self._models.stats.keys():  # noqa: SIM118 (ModelStats, not a dict)
            s = self._models.performance(key)
            requests.add_metric([key], s["requests"])
            errors.add_metric([key], s["errors"])
            prompt.add_metric([key], s["prompt_tokens"])
            completion.add_metric([key], s["completion_tokens"])
            cost.add_metric([key], s["cost"])
            if s["tokens_per_s"] is not None:
                speed.add_metric([key], s["tokens_per_s"])
            for q, field in (("0.5", "latency_ms_p50"), ("0.95", "latency_ms_p95")):
                if s[field] is not None:
                    latency.add_metric([key, q], s[field] / 1000)
            for q, field in (("0.5", "first_token_ms_p50"), ("0.95", "first_token_ms_p95")):
                if s[field] is not None:
                    first.add_metric([key, q], s[field] / 1000)
        yield from (requests, errors, prompt, completion, cost, speed, latency, first)
        yield self._success()
        yield from self._pool()

    def _success(self) -> Metric:
        family = GaugeMetricFamily(
            "smolit_model_task_success_rate",
            "Share of rated tasks answered by the model that succeeded",
            labels=["model"],
        )
        for key, row in task_success_by_model(self._database).items():
            if row["task_success_rate"] is not None:
                family.add_metric([key], row["task_success_rate"])
        return family

    def _pool(self) -> Iterator[Metric]:
        memory = GaugeMetricFamily(
            "smolit_model_pool_memory_bytes", "Resident models' memory", labels=["model"]
        )
        for entry in self._models.pool.resident():
            memory.add_metric([entry["model"]], entry["memory_mb"] * MIB)
        yield memory
        budget = self._models.pool.budget()
        yield GaugeMetricFamily(
            "smolit_model_pool_budget_bytes",
            "models.max_memory_mb",
            value=budget["max_memory_mb"] * MIB,
        )


def system_collectors(system: _System) -> list[Collector]:
    """Every family a process exposes; the finished-task count is this process's runner's."""
    tasks = system.tasks
    return [
        ResourceCollector(system.resources),
        CacheCollector(system.cache),
        ModelCollector(system.models, system.database),
        TaskCollector(
            system.task_rollups,
            system.models,
            system.resources,
            system.supervisor.availability,
            lambda: tasks.runner.finished,
        ),
    ]


def registry_of(collectors: Sequence[Collector]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def render_metrics(system: _System, extra: Sequence[Collector] = ()) -> bytes:
    """The Prometheus text exposition of ``system``'s collectors and ``extra`` ones."""
    return generate_latest(registry_of([*system_collectors(system), *extra]))


class MetricsServer:
    """``/metrics`` of a process without the API (a ``smolit worker``), on its own port."""

    def __init__(self, collectors: Sequence[Collector], port: int, host: str = "127.0.0.1") -> None:
        try:
            self._server, self._thread = start_http_server(
                port, addr=host, registry=registry_of(collectors)
            )
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
