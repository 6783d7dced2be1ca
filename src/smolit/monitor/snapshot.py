"""One snapshot of a running server for the dashboard: its ``/metrics`` (no token
needed), parsed into tasks, throughput, latency, agents, caches and resources."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smolit.errors import SmolitError, ValidationError


class ServerDown(SmolitError):
    """The server did not answer."""

    kind = "server_down"
    http_status = 503


Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name].append((sample.labels, float(sample.value)))
    except ValueError as exc:
        raise ValidationError(f"the server's /metrics is not Prometheus text ({exc})") from exc
    return samples


def _one(samples: Samples, name: str, **labels: str) -> float | None:
    for found, value in samples.get(name, []):
        if labels.items() <= found.items():
            return value
    return None


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {found[label]: value for found, value in samples.get(name, []) if label in found}


def _agents(samples: Samples) -> dict[str, dict[str, Any]]:
    agents: dict[str, dict[str, Any]] = defaultdict(lambda: {"tasks": {}})
    for found, value in samples.get("smolit_agent_tasks", []):
        agents[found["agent"]]["tasks"][found["status"]] = int(value)
    for agent, value in _by(samples, "smolit_agent_success_rate", "agent").items():
        agents[agent]["success_rate"] = value
    for agent, value in _by(samples, "smolit_agent_available", "agent").items():
        agents[agent]["available"] = value == 1.0
    return {name: dict(entry) for name, entry in sorted(agents.items())}


def snapshot_from_metrics(text: str) -> dict[str, Any]:
    s = parse(text)
    memory = _by(s, "smolit_host_memory_bytes", "kind")
    disk = _by(s, "smolit_disk_bytes", "kind")
    return {
        "tasks": {k: int(v) for k, v in _by(s, "smolit_tasks", "status").items()},
        "throughput_per_minute": _one(s, "smolit_task_throughput_per_minute"),
        "latency_seconds": _by(s, "smolit_task_latency_seconds", "quantile"),
        "task_success_rate": _one(s, "smolit_task_success_rate"),
        "task_error_rate": _one(s, "smolit_task_error_rate"),
        "user_satisfaction": _one(s, "smolit_user_satisfaction"),
        "cost_per_task": _one(s, "smolit_cost_per_task"),
        "agents": _agents(s),
        "agents_available_ratio": _one(s, "smolit_agents_available_ratio"),
        "cache_hit_rate": _by(s, "smolit_cache_hit_rate", "cache"),
        "resources": {
            "host_cpu_percent": _one(s, "smolit_host_cpu_percent"),
            "host_memory_used_bytes": memory.get("used"),
            "host_memory_total_bytes": memory.get("total"),
            "disk_free_bytes": disk.get("free"),
            "disk_total_bytes": disk.get("total"),
            "process_memory_bytes": _one(s, "smolit_process_memory_bytes"),
            "process_cpu_seconds": _one(s, "smolit_process_cpu_seconds_total"),
            "gpu_memory_used_bytes": {
                f["device"]: v
                for f, v in s.get("smolit_gpu_memory_bytes", [])
                if f.get("kind") == "used"
            },
        },
        "uptime_seconds": _one(s, "smolit_uptime_seconds"),
    }


def fetch(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """A snapshot of the server at ``url``; ``ServerDown`` when it does not answer."""
    target = f"{url.rstrip('/')}/metrics"
    try:
        response = httpx.get(target, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServerDown(f"cannot reach {target}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ServerDown(f"{target} answered {response.status_code}")
    return snapshot_from_metrics(response.text)
