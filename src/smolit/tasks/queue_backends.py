"""Which queue carries task ids: ``queue: local`` or a backend chosen by the URL's scheme.

``local`` is the embedded mode: the ``TaskManager`` makes its in-process queue and runs the
tasks itself. Any other value is a URL whose scheme names a ``RemoteQueue`` factory
(``factory(settings) -> RemoteQueue``): Celery for ``redis://`` and ``rediss://``, or one a
package registers in the ``smolit.queues`` entry point group. The factories are imported on
first use, so this module (and the composition root) never imports a broker library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import cast
from urllib.parse import urlsplit

from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.tasks.queues import RemoteQueue

ENTRY_POINT_GROUP = "smolit.queues"
QueueFactory = Callable[[Settings], RemoteQueue]

#: built-in backends: URL scheme -> "module:attribute" of the factory
BUILT_IN = {
    "redis": "smolit.distributed.celery_queue:CeleryQueue.from_settings",
    "rediss": "smolit.distributed.celery_queue:CeleryQueue.from_settings",
}


def _load(path: str) -> QueueFactory:
    module_name, _, attributes = path.partition(":")
    target: object = importlib.import_module(module_name)
    for attribute in attributes.split("."):
        target = getattr(target, attribute)
    return cast(QueueFactory, target)


def _factory(scheme: str) -> QueueFactory:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == scheme:
            return cast(QueueFactory, entry_point.load())
    if scheme in BUILT_IN:
        return _load(BUILT_IN[scheme])
    known = sorted({*BUILT_IN, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
    raise ConfigError(
        f"queue: no task queue for {scheme + '://' if scheme else 'this value'}; "
        f"use local or one of {', '.join(f'{name}://' for name in known)}",
        details={"queue": scheme, "known": known},
    )


def open_queue(settings: Settings) -> RemoteQueue | None:
    """The remote queue ``queue:`` names; None for ``local`` (the embedded mode)."""
    if settings.queue == "local":
        return None
    return _factory(urlsplit(settings.queue).scheme)(settings)
