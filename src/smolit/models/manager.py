"""The model pool: definitions by name, loaded on first use, shared by every agent.

``get`` loads a model once even when several threads ask at the same moment (one lock per
name); ``generate`` runs the load and the generation in a worker thread so that the event
loop never waits on a model.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Mapping

from smolit.config import NAME_PATTERN, ModelDefinition, ModelsSettings
from smolit.errors import ConfigError, ConflictError, ModelError, NotFoundError, SmolitError
from smolit.errors import ValidationError as SmolitValidationError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult, ModelBackend
from smolit.models.registry import BackendRegistry, default_registry

logger = logging.getLogger(__name__)


def resolve_api_key(definition: ModelDefinition, environ: Mapping[str, str]) -> str | None:
    """The API key named by ``definition.api_key_env``; None when the model needs none."""
    if not definition.api_key_env:
        return None
    value = environ.get(definition.api_key_env)
    if not value:
        raise ConfigError(
            f"environment variable {definition.api_key_env} (api_key_env) is not set",
            details={"api_key_env": definition.api_key_env},
        )
    return value


class ModelManager:
    """Knows every model definition and holds the loaded backends."""

    def __init__(
        self,
        settings: ModelsSettings,
        environ: Mapping[str, str] | None = None,
        registry: BackendRegistry | None = None,
    ) -> None:
        self.default_model = settings.default_model
        self._definitions: dict[str, ModelDefinition] = dict(settings.definitions)
        self._environ: Mapping[str, str] = environ if environ is not None else {}
        self._registry = registry or default_registry()
        self._pool: dict[str, ModelBackend] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # --- definitions -------------------------------------------------------------------

    def _resolve(self, name: str | None) -> str:
        return name or self.default_model

    def names(self) -> list[str]:
        """Every model name: defined ones and instances added directly."""
        with self._guard:
            return sorted(set(self._definitions) | set(self._pool))

    def _not_found(self, name: str) -> NotFoundError:
        known = self.names()
        return NotFoundError(
            f"unknown model {name!r}; known models: {', '.join(known) or 'none'}",
            details={"model": name, "known": known},
        )

    def definition(self, name: str | None = None) -> ModelDefinition:
        """The definition of ``name`` (the default model when None)."""
        key = self._resolve(name)
        with self._guard:
            definition = self._definitions.get(key)
            if definition is None and key in self._pool:
                definition = self._pool[key].definition
        if definition is None:
            raise self._not_found(key)
        return definition

    def add_definition(
        self, name: str, definition: ModelDefinition, *, replace: bool = False
    ) -> None:
        """Declare a model at run time; with ``replace`` a loaded old one is unloaded."""
        self._check_name(name)
        with self._guard:
            if name in self._definitions and not replace:
                raise ConflictError(f"model {name!r} is already defined", details={"model": name})
            self._definitions[name] = definition
        if replace:
            self.unload(name)

    def add_instance(self, name: str, backend: ModelBackend, *, replace: bool = False) -> None:
        """Put an already-built backend into the pool (a ``FakeModel`` in tests)."""
        self._check_name(name)
        with self._guard:
            old = self._pool.get(name)
            if old is not None and not replace:
                raise ConflictError(f"model {name!r} is already loaded", details={"model": name})
            self._pool[name] = backend
        if old is not None and old is not backend:
            old.close()

    @staticmethod
    def _check_name(name: str) -> None:
        if not re.match(NAME_PATTERN, name):
            raise SmolitValidationError(
                f"invalid model name {name!r}: lower-case letters, digits, '-' and '_'",
                details={"model": name},
            )

    def default_params(self, name: str | None = None) -> GenerationParams:
        """Generation parameters from the model's definition."""
        definition = self.definition(name)
        return GenerationParams(
            max_new_tokens=definition.max_new_tokens,
            temperature=definition.temperature,
            repetition_penalty=definition.repetition_penalty,
        )

    # --- the pool ----------------------------------------------------------------------

    def get(self, name: str | None = None) -> ModelBackend:
        """The loaded backend of ``name``, loading it on first use (once, thread-safe)."""
        key = self._resolve(name)
        with self._guard:
            backend = self._pool.get(key)
            defined = key in self._definitions
            lock = self._load_locks.setdefault(key, threading.Lock()) if defined else None
        if backend is not None:
            return backend
        if lock is None:
            raise self._not_found(key)
        with lock:
            with self._guard:
                backend = self._pool.get(key)
                definition = self._definitions.get(key)
            if backend is not None:
                return backend
            if definition is None:
                raise self._not_found(key)
            backend = self._build(key, definition)
            with self._guard:
                self._pool[key] = backend
        return backend

    def _build(self, name: str, definition: ModelDefinition) -> ModelBackend:
        cls = self._registry.get(definition.backend)
        api_key = resolve_api_key(definition, self._environ)
        started = time.perf_counter()
        try:
            backend = cls.from_definition(name, definition, api_key=api_key)
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while loading
            raise ModelError(
                f"model {name!r} could not be loaded: {type(exc).__name__}: {exc}",
                details={"model": name, "backend": definition.backend},
            ) from exc
        logger.info(
            "model %r (%s) ready in %.1fs", name, definition.backend, time.perf_counter() - started
        )
        return backend

    def preload(self, name: str | None = None) -> ModelBackend:
        """Load ``name`` now (warming at start-up) instead of on the first request."""
        return self.get(name)

    def check(self, name: str | None = None) -> str | None:
        """None when ``name`` is usable, else why not; cheap: nothing is loaded."""
        key = self._resolve(name)
        with self._guard:
            if key in self._pool:
                return None
            definition = self._definitions.get(key)
        if definition is None:
            return self._not_found(key).message
        try:
            cls = self._registry.get(definition.backend)
            resolve_api_key(definition, self._environ)
        except ConfigError as exc:
            return exc.message
        return cls.check_definition(definition)

    def loaded(self) -> list[str]:
        """Names of the models in memory now."""
        with self._guard:
            return sorted(self._pool)

    def unload(self, name: str) -> bool:
        """Drop ``name`` from the pool and close it; False when it was not loaded."""
        with self._guard:
            backend = self._pool.pop(name, None)
        if backend is None:
            return False
        backend.close()
        logger.info("model %r unloaded", name)
        return True

    def close(self) -> None:
        """Unload every model."""
        for name in self.loaded():
            self.unload(name)

    # --- generation --------------------------------------------------------------------

    def generate_sync(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
    ) -> GenerationResult:
        """Load if needed and generate, blocking; backend failures become ``ModelError``."""
        backend = self.get(name)
        params = params or self.default_params(name)
        try:
            return backend.generate(messages, params)
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while generating
            raise ModelError(
                f"model {backend.name!r} failed: {type(exc).__name__}: {exc}",
                details={"model": backend.name},
            ) from exc

    async def generate(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
    ) -> GenerationResult:
        """``generate_sync`` in a worker thread, so the event loop never blocks."""
        return await asyncio.to_thread(self.generate_sync, name, messages, params)
