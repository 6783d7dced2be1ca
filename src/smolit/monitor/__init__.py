"""Operations views of a running system: the resource monitor, the terminal dashboard
(``python -m smolit.monitor``)."""

from smolit.monitor.resources import GpuSample, ResourceMonitor, ResourceSample

__all__ = ["GpuSample", "ResourceMonitor", "ResourceSample"]
