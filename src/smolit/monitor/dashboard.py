"""The terminal dashboard: one rich renderable per snapshot."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1_048_576:,.0f} MB"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def render(url: str, snap: dict[str, Any], note: str | None = None) -> RenderableType:
    header = Text.assemble(
        ("Agent-NN ", "bold"),
        (url, "cyan"),
        f"   up {snap['uptime_seconds'] or 0:,.0f} s   ",
        (note or "", "yellow"),
    )
    tasks = Table(title="tasks", expand=True)
    for status in snap["tasks"]:
        tasks.add_column(status, justify="right")
    tasks.add_row(*(str(count) for count in snap["tasks"].values()))

    flow = Table(title="throughput and latency", expand=True)
    for column in ("per minute", "p50", "p90", "p95", "p99", "success", "errors", "rating"):
        flow.add_column(column, justify="right")
    latency = snap["latency_seconds"]
    rating = snap["user_satisfaction"]
    flow.add_row(
        f"{snap['throughput_per_minute'] or 0:.0f}",
        *(_seconds(latency.get(q)) for q in ("0.5", "0.9", "0.95", "0.99")),
        _pct(snap["task_success_rate"]),
        _pct(snap["task_error_rate"]),
        "-" if rating is None else f"{rating:.2f}/5",
    )

    agents = Table(title="agents", expand=True)
    for column in ("agent", "available", "succeeded", "failed", "success rate"):
        agents.add_column(column)
    for name, agent in snap["agents"].items():
        agents.add_row(
            name,
            "yes" if agent.get("available") else "[red]no[/red]",
            str(agent["tasks"].get("succeeded", 0)),
            str(agent["tasks"].get("failed", 0) + agent["tasks"].get("timed_out", 0)),
            _pct(agent.get("success_rate")),
        )

    caches = Table(title="cache hit rates", expand=True)
    for name in snap["cache_hit_rate"]:
        caches.add_column(name, justify="right")
    caches.add_row(*(_pct(rate) for rate in snap["cache_hit_rate"].values()))

    r = snap["resources"]
    resources = Table(title="resources", expand=True)
    for column in ("host CPU", "host memory", "disk free", "process memory", "process CPU"):
        resources.add_column(column, justify="right")
    resources.add_row(
        "-" if r["host_cpu_percent"] is None else f"{r['host_cpu_percent']:.0f}%",
        f"{_mb(r['host_memory_used_bytes'])} / {_mb(r['host_memory_total_bytes'])}",
        f"{_mb(r['disk_free_bytes'])} / {_mb(r['disk_total_bytes'])}",
        _mb(r["process_memory_bytes"]),
        _seconds(r["process_cpu_seconds"]),
    )
    parts: list[RenderableType] = [header, tasks, flow, agents, caches, resources]
    for device, used in r["gpu_memory_used_bytes"].items():
        parts.append(Text(f"GPU {device}: {_mb(used)} in use"))
    return Group(*parts)
