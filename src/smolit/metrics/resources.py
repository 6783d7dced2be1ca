"""``ResourceCollector``: the system families (host and process CPU, memory, disk,
network, GPU) from the resource monitor's latest sample."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smolit.monitor.gpus import GpuSample
from smolit.monitor.resources import ResourceMonitor


class ResourceCollector(Collector):
    def __init__(self, monitor: ResourceMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        s = self._monitor.sample()
        yield GaugeMetricFamily(
            "smolit_host_cpu_percent",
            "Host CPU use since the last sample",
            value=s.host_cpu_percent,
        )
        yield GaugeMetricFamily("smolit_host_cpus", "Logical CPUs", value=s.host_cpu_count)
        memory = GaugeMetricFamily("smolit_host_memory_bytes", "Host memory", labels=["kind"])
        memory.add_metric(["total"], s.host_memory_total_bytes)
        memory.add_metric(["used"], s.host_memory_used_bytes)
        memory.add_metric(["available"], s.host_memory_available_bytes)
        yield memory
        disk = GaugeMetricFamily(
            "smolit_disk_bytes", "The data directory's file system", labels=["path", "kind"]
        )
        for kind, value in (
            ("total", s.disk_total_bytes),
            ("used", s.disk_used_bytes),
            ("free", s.disk_free_bytes),
        ):
            disk.add_metric([s.disk_path, kind], value)
        yield disk
        network = CounterMetricFamily(
            "smolit_host_network_bytes", "Bytes over all host interfaces", labels=["direction"]
        )
        network.add_metric(["sent"], s.network_sent_bytes)
        network.add_metric(["received"], s.network_received_bytes)
        yield network
        yield CounterMetricFamily(
            "smolit_process_cpu_seconds",
            "CPU time of this process and its children",
            value=s.process_cpu_seconds,
        )
        yield GaugeMetricFamily(
            "smolit_process_memory_bytes",
            "Resident memory of this process and its children",
            value=s.process_memory_bytes,
        )
        yield from self._gpus(s.gpus)

    @staticmethod
    def _gpus(gpus: list[GpuSample]) -> Iterator[Metric]:
        memory = GaugeMetricFamily(
            "smolit_gpu_memory_bytes", "GPU memory", labels=["device", "name", "kind"]
        )
        utilization = GaugeMetricFamily(
            "smolit_gpu_utilization_percent", "GPU utilisation", labels=["device", "name"]
        )
        for gpu in gpus:
            labels = [str(gpu.device), gpu.name]
            memory.add_metric([*labels, "used"], gpu.memory_used_bytes)
            memory.add_metric([*labels, "total"], gpu.memory_total_bytes)
            if gpu.utilization_percent is not None:
                utilization.add_metric(labels, gpu.utilization_percent)
        yield from (memory, utilization)
