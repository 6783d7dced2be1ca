"""The backend registry: model backend classes by name, fed by entry points.

Built-in backends are registered through the same ``smolit.model_backends`` entry point
group that third-party packages use; ``register_backend`` adds one from code (tests,
embedding applications). Entry points are imported lazily, on first lookup.
"""

from __future__ import annotations

from smolit.errors import ConfigError
from smolit.models.base import ModelBackend
from smolit.plugins import EntryPointRegistry

ENTRY_POINT_GROUP = "smolit.model_backends"


class BackendRegistry(EntryPointRegistry[type[ModelBackend]]):
    """Maps a backend name (``ModelDefinition.backend``) to a ``ModelBackend`` class."""

    kind = "model backend"
    detail_key = "backend"
    requirement = "a ModelBackend subclass"
    known_label = "known backends"

    def __init__(self, group: str | None = ENTRY_POINT_GROUP) -> None:
        super().__init__(group)

    def accepts(self, item: object) -> bool:
        return isinstance(item, type) and issubclass(item, ModelBackend)

    def register(self, name: str, cls: type[ModelBackend]) -> None:
        """Register ``cls`` under ``name``; it wins over an entry point of that name."""
        if not self.accepts(cls):
            raise ConfigError(
                f"backend {name!r}: {cls!r} is not a ModelBackend subclass",
                details={"backend": name},
            )
        with self._lock:
            self._items[name] = cls


_default_registry = BackendRegistry()


def default_registry() -> BackendRegistry:
    """The process-wide registry that ``ModelManager`` uses when given none."""
    return _default_registry


def register_backend(name: str, cls: type[ModelBackend]) -> None:
    """Register a backend class in the default registry."""
    _default_registry.register(name, cls)
