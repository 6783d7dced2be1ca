"""``ResourceMonitor``: CPU, memory, disk, network and GPU use of the host and of this
process (with its children), sampled periodically into a short in-memory history.

The history is a ring buffer: ``history`` samples, one every ``interval`` seconds (by
default 10 minutes of history). ``GET /system/resources`` and the ``/metrics`` system
families read it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from smolit.monitor.gpus import GpuSample, gpu_samples

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0
DEFAULT_HISTORY = 120


@dataclass(frozen=True)
class ResourceSample:
    at: float
    host_cpu_percent: float
    host_cpu_count: int
    host_memory_total_bytes: int
    host_memory_used_bytes: int
    host_memory_available_bytes: int
    disk_path: str
    disk_total_bytes: int
    disk_used_bytes: int
    disk_free_bytes: int
    network_sent_bytes: int
    network_received_bytes: int
    #: this process and its children
    process_cpu_seconds: float
    process_memory_bytes: int
    process_count: int
    process_cpu_percent: float | None = None
    network_sent_per_second: float | None = None
    network_received_per_second: float | None = None
    gpus: list[GpuSample] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the data directory may not exist yet)."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _process_usage(process: psutil.Process) -> tuple[float, int, int]:
    """CPU seconds (finished children included), resident bytes, processes counted."""
    with process.oneshot():
        times = process.cpu_times()
        cpu = times.user + times.system + times.children_user + times.children_system
        memory = process.memory_info().rss
    count = 1
    try:
        children = process.children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            with child.oneshot():
                times = child.cpu_times()
                cpu += times.user + times.system
                memory += child.memory_info().rss
            count += 1
        except psutil.Error:  # it exited meanwhile, or is not ours to read
            continue
    return cpu, memory, count


class ResourceMonitor:
    def __init__(
        self,
        data_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        history: int = DEFAULT_HISTORY,
        gpus: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.interval = interval
        self._history: deque[ResourceSample] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._process = psutil.Process(os.getpid())
        self._gpus = gpus
        self.started_at = self._process.create_time()
        psutil.cpu_percent(interval=None)  # the first call only sets the reference point

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, time.time() - self.started_at)

    def sample(self) -> ResourceSample:
        """Measure now and append to the history."""
        now = time.time()
        memory = psutil.virtual_memory()
        disk_path = _existing(self.data_dir)
        disk = psutil.disk_usage(str(disk_path))
        network = psutil.net_io_counters()
        cpu, rss, count = _process_usage(self._process)
        previous = self.latest()
        elapsed = now - previous.at if previous is not None else 0.0
        sample = ResourceSample(
            at=now,
            host_cpu_percent=float(psutil.cpu_percent(interval=None)),
            host_cpu_count=psutil.cpu_count() or 1,
            host_memory_total_bytes=int(memory.total),
            host_memory_used_bytes=int(memory.total - memory.available),
            host_memory_available_bytes=int(memory.available),
            disk_path=str(disk_path),
            disk_total_bytes=int(disk.total),
            disk_used_bytes=int(disk.used),
            disk_free_bytes=int(disk.free),
            network_sent_bytes=int(network.bytes_sent) if network else 0,
            network_received_bytes=int(network.bytes_recv) if network else 0,
            process_cpu_seconds=round(cpu, 3),
            process_memory_bytes=int(rss),
            process_count=count,
            gpus=gpu_samples() if self._gpus else [],
        )
        if previous is not None and elapsed > 0:
            sample = _with_rates(sample, previous, elapsed)
        with self._lock:
            self._history.append(sample)
        return sample

    def latest(self) -> ResourceSample | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def current(self) -> ResourceSample:
        """The latest sample, taking one when there is none yet."""
        return self.latest() or self.sample()

    def history(self) -> list[ResourceSample]:
        with self._lock:
            return list(self._history)

    def report(self) -> dict[str, Any]:
        """What ``GET /system/resources`` answers: a fresh sample and the history."""
        current = self.sample()
        return {
            "interval_seconds": self.interval,
            "uptime_seconds": round(self.uptime_seconds, 1),
            "current": current.to_dict(),
            "history": [sample.to_dict() for sample in self.history()],
        }

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.sample)
            except Exception:  # a sample that fails must not end monitoring
                logger.warning("resource sample failed", exc_info=True)
            await asyncio.sleep(self.interval)


def _with_rates(sample: ResourceSample, previous: ResourceSample, elapsed: float) -> ResourceSample:
    cpu = (sample.process_cpu_seconds - previous.process_cpu_seconds) / elapsed * 100
    return replace(
        sample,
        process_cpu_percent=round(max(0.0, cpu), 2),
        network_sent_per_second=round(
            max(0, sample.network_sent_bytes - previous.network_sent_bytes) / elapsed, 1
        ),
        network_received_per_second=round(
            max(0, sample.network_received_bytes - previous.network_received_bytes) / elapsed, 1
        ),
    )
