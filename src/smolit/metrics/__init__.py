"""Prometheus metrics: collectors that read the system's live state at scrape time."""

from smolit.metrics.collectors import (
    MetricsServer,
    render_metrics,
    system_collectors,
)
from smolit.metrics.http import RequestStats

__all__ = ["MetricsServer", "RequestStats", "render_metrics", "system_collectors"]
