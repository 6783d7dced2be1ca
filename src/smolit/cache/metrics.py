"""``CacheCollector``: the caches' counters in Prometheus form, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smolit.cache.manager import CacheManager
from smolit.cache.policies import EVICTION_REASONS


class CacheCollector(Collector):
    """Per cache: hits, misses, hit rate, evictions by reason, values refused from a
    shared store (``rejected``), entries, bytes, limit; the tensor cache's bytes per device
    and whether the Redis tier is reachable."""

    def __init__(self, cache: CacheManager) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        labels = ["cache"]
        hits = CounterMetricFamily("smolit_cache_hits", "Cache hits", labels=labels)
        misses = CounterMetricFamily("smolit_cache_misses", "Cache misses", labels=labels)
        evictions = CounterMetricFamily(
            "smolit_cache_evictions", "Entries evicted, by reason", labels=["cache", "reason"]
        )
        rejected = CounterMetricFamily(
            "smolit_cache_rejected",
            "Values read from a shared store and refused (bad HMAC tag, mode or shape)",
            labels=labels,
        )
        rate = GaugeMetricFamily("smolit_cache_hit_rate", "Hits per lookup", labels=labels)
        entries = GaugeMetricFamily("smolit_cache_entries", "Entries held", labels=labels)
        size = GaugeMetricFamily("smolit_cache_bytes", "Bytes held", labels=labels)
        limit = GaugeMetricFamily("smolit_cache_limit_bytes", "Byte limit", labels=labels)
        stats = self._cache.stats()
        for name, s in stats["caches"].items():
            hits.add_metric([name], s["hits"])
            misses.add_metric([name], s["misses"])
            for reason in EVICTION_REASONS:
                evictions.add_metric([name, reason], s["evictions"][reason])
            rejected.add_metric([name], s["rejected"])
            if s["hit_rate"] is not None:
                rate.add_metric([name], s["hit_rate"])
            entries.add_metric([name], s["entries"])
            size.add_metric([name], s["bytes"])
            limit.add_metric([name], s["limit_bytes"])
        yield from (hits, misses, evictions, rejected, rate, entries, size, limit)
        devices = GaugeMetricFamily(
            "smolit_cache_tensor_bytes", "Tensor cache bytes per device", labels=["device"]
        )
        for device, count in stats["caches"]["tensor"]["bytes_by_device"].items():
            devices.add_metric([device], count)
        yield devices
        if stats["redis"] is not None:
            yield GaugeMetricFamily(
                "smolit_cache_redis_available",
                "1 while the shared Redis tier answers",
                value=1.0 if stats["redis"]["available"] else 0.0,
            )
