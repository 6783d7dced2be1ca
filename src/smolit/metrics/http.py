"""``RequestStats``: HTTP response times per route template, method and status, as a
Prometheus histogram, and error counts.

The API's ``RequestMetrics`` middleware records into it; ``render_metrics`` exposes it.
Routes are named by their template (``/tasks/{task_id}``), never by the raw path, so the
number of series stays bounded; a request no route matched is ``route="unmatched"``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "unmatched"


@dataclass
class _Series:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0


class RequestStats(Collector):
    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._lock = threading.Lock()

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            series = self._series.setdefault((route, method, str(status)), _Series())
            series.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            series.total += seconds

    def snapshot(self) -> dict[tuple[str, str, str], tuple[list[int], float]]:
        with self._lock:
            return {key: (list(s.counts), s.total) for key, s in self._series.items()}

    def collect(self) -> Iterator[Metric]:
        labels = ["route", "method", "status"]
        histogram = HistogramMetricFamily(
            "smolit_http_request_duration_seconds",
            "HTTP response time per route template, method and status",
            labels=labels,
        )
        errors = CounterMetricFamily(
            "smolit_http_errors", "HTTP responses with status 4xx or 5xx", labels=labels
        )
        requests = 0
        failed = {"client": 0, "server": 0}
        for (route, method, status), (counts, total) in sorted(self.snapshot().items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            histogram.add_metric([route, method, status], buckets, total)
            requests += cumulative
            if status.startswith(("4", "5")):
                errors.add_metric([route, method, status], cumulative)
                failed["server" if status.startswith("5") else "client"] += cumulative
        rate = GaugeMetricFamily(
            "smolit_http_error_rate",
            "Share of HTTP responses that were errors, by kind (client: 4xx, server: 5xx)",
            labels=["kind"],
        )
        for kind, count in failed.items():
            rate.add_metric([kind], count / requests if requests else 0.0)
        yield from (histogram, errors, rate)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
