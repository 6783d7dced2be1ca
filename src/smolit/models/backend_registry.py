"""The backend registry: model backend classes by name, fed by entry points.

Built-in backends are registered through the same ``smolit.model_backends`` entry point
group that third-party packages use; ``register_backend`` adds one from code (tests,
embedding applications). Entry points are imported lazily, on first lookup.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import EntryPoint, entry_points

from smolit.errors import ConfigError
from smolit.models.base import ModelBackend

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "smolit.model_backends"


class BackendRegistry:
    """Maps a backend name (``ModelDefinition.backend``) to a ``ModelBackend`` class."""

    def __init__(self, group: str | None = ENTRY_POINT_GROUP) -> None:
        self._group = group
        self._classes: dict[str, type[ModelBackend]] = {}
        self._entry_points: dict[str, EntryPoint] | None = None
        self._lock = threading.Lock()

    def _discovered(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            found = entry_points(group=self._group) if self._group else ()
            self._entry_points = {ep.name: ep for ep in found}
        return self._entry_points

    def register(self, name: str, cls: type[ModelBackend]) -> None:
        """Register ``cls`` under ``name``; it wins over an entry point of that name."""
        if not (isinstance(cls, type) and issubclass(cls, ModelBackend)):
            raise ConfigError(
                f"backend {name!r}: {cls!r} is not a ModelBackend subclass",
                details={"backend": name},
            )
        with self._lock:
            self._classes[name] = cls

    def names(self) -> list[str]:
        """All known backend names, registered or discovered, sorted."""
        with self._lock:
            return sorted(set(self._classes) | set(self._discovered()))

    def get(self, name: str) -> type[ModelBackend]:
        """The class for ``name``; ``ConfigError`` naming the known backends if unknown."""
        with self._lock:
            if name in self._classes:
                return self._classes[name]
            entry_point = self._discovered().get(name)
        if entry_point is None:
            known = self.names()
            raise ConfigError(
                f"unknown model backend {name!r}; known backends: {', '.join(known) or 'none'}",
                details={"backend": name, "known": known},
            )
        cls = self._load(name, entry_point)
        with self._lock:
            self._classes.setdefault(name, cls)
            return self._classes[name]

    @staticmethod
    def _load(name: str, entry_point: EntryPoint) -> type[ModelBackend]:
        try:
            cls = entry_point.load()
        except Exception as exc:  # an entry point may fail in any way while importing
            raise ConfigError(
                f"model backend {name!r} ({entry_point.value}) cannot be imported: {exc}",
                details={"backend": name, "entry_point": entry_point.value},
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, ModelBackend)):
            raise ConfigError(
                f"model backend {name!r} ({entry_point.value}) is not a ModelBackend subclass",
                details={"backend": name, "entry_point": entry_point.value},
            )
        logger.debug("loaded model backend %r from %s", name, entry_point.value)
        return cls


_default_registry = BackendRegistry()


def default_registry() -> BackendRegistry:
    """The process-wide registry that ``ModelManager`` uses when given none."""
    return _default_registry


def register_backend(name: str, cls: type[ModelBackend]) -> None:
    """Register a backend class in the default registry."""
    _default_registry.register(name, cls)
