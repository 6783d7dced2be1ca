"""``ModelResolver``: what a model reference names now, cached.

References (``name``, ``name@alias``, ``name@version``) are resolved through the catalog;
a backend instance added in code answers to its own name. Resolution is cached for ``ttl``
seconds (``invalidate`` clears the cache at once; a registry change made by another
process is seen within the TTL). With ``pin`` (``models.auto_update: false``) a reference
is resolved once per process and stays pinned to that version until restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from smolit.errors import ConflictError, NotFoundError
from smolit.models.base import ModelBackend
from smolit.models.catalog import ModelCatalog, ResolvedModel

RESOLVE_TTL_SECONDS = 1.0


class ModelResolver:
    """Resolves references through ``catalog``; None means ``default_model``."""

    def __init__(
        self,
        catalog: ModelCatalog,
        default_model: str,
        *,
        pin: bool = False,
        ttl: float = RESOLVE_TTL_SECONDS,
    ) -> None:
        self.catalog = catalog
        self.default_model = default_model
        self._pin = pin
        self._ttl = ttl
        self._instances: dict[str, ModelBackend] = {}
        self._resolved: dict[str, tuple[float, ResolvedModel]] = {}
        self._pins: dict[str, ResolvedModel] = {}
        self._lock = threading.Lock()

    def resolve(self, reference: str | None = None) -> ResolvedModel:
        """What ``reference`` (the default model when None) names now."""
        reference = reference or self.default_model
        with self._lock:
            instance = self._instances.get(reference)
            pinned = self._pins.get(reference)
            cached = self._resolved.get(reference)
        if instance is not None:
            # the instance answers; a definition of the same name still gives its parameters
            definition = instance.definition
            if self.catalog.has_definition(reference):
                definition = self.catalog.resolve(reference).definition
            return ResolvedModel(reference, reference, reference, None, definition)
        if pinned is not None:
            return pinned
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            resolved = self.catalog.resolve(reference)
        except NotFoundError as exc:
            if reference.partition("@")[0] in self.catalog.names():
                raise  # a known model without that version or alias: say so
            raise self.catalog.not_found(reference, self.instance_names()) from exc
        with self._lock:
            self._resolved[reference] = (now + self._ttl, resolved)
            if self._pin:
                self._pins[reference] = resolved
        return resolved

    def invalidate(self) -> None:
        """Forget cached resolutions (pins stay: they last until restart)."""
        with self._lock:
            self._resolved.clear()

    def names(self) -> list[str]:
        """Every language model name: registered, defined, and instances added in code."""
        return sorted(set(self.catalog.names()) | set(self.instance_names()))

    # --- instances added in code ----------------------------------------------------------

    def add_instance(
        self,
        name: str,
        backend: ModelBackend,
        loaded: Callable[[str], ModelBackend | None],
        *,
        replace: bool = False,
    ) -> None:
        """Let ``name`` name ``backend``; ``ConflictError`` when ``name`` is an instance
        already or ``loaded`` (the pool) holds a model of that name, unless ``replace``."""
        with self._lock:
            taken = name in self._instances or loaded(name) is not None
            if taken and not replace:
                raise ConflictError(f"model {name!r} is already loaded", details={"model": name})
            self._instances[name] = backend

    def instance(self, name: str) -> ModelBackend | None:
        with self._lock:
            return self._instances.get(name)

    def instance_names(self) -> list[str]:
        with self._lock:
            return list(self._instances)

    def drop_instance(self, name: str | None = None) -> None:
        """Forget the instance ``name`` (every instance for None)."""
        with self._lock:
            if name is None:
                self._instances.clear()
            else:
                self._instances.pop(name, None)
