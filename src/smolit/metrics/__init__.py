"""Prometheus metrics: collectors that read the system's live state at scrape time."""

from smolit.metrics.collectors import ModelCollector, render_metrics

__all__ = ["ModelCollector", "render_metrics"]
