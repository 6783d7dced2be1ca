"""Operations views of a running system: the resource monitor, the terminal dashboard
(``python -m smolit.monitor``)."""

from smolit.monitor.resources import ResourceMonitor

__all__ = ["ResourceMonitor"]
