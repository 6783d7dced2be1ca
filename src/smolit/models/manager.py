"""``ModelManager``: the one door to every language model the agents and the API use.

It resolves references (``name``, ``name@alias``, ``name@version``; ``resolver``), loads
models into the memory-budgeted pool (``pool``), runs generations in worker threads, so the
event loop never waits on a model (``generation``), records performance per model version,
and changes the registry (register, import, promote, rollback, remove).

A caller that uses one model several times (a task: check it, take its parameters,
generate) resolves it once (``resolve``) and passes the ``ResolvedModel`` on: every method
that takes a reference takes a resolved model too, and uses it as it is.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from smolit.config import NAME_PATTERN, ModelDefinition, ModelsSettings
from smolit.errors import (
    ConflictError,
    SmolitError,
)
from smolit.errors import ValidationError as SmolitValidationError
from smolit.models.backend_registry import BackendRegistry, default_registry
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.catalog import ModelCatalog, ResolvedModel
from smolit.models.generation import ModelRunner, ResponseStore
from smolit.models.loader import BackendLoader
from smolit.models.pool import BackendPool
from smolit.models.resolver import RESOLVE_TTL_SECONDS, ModelResolver
from smolit.models.stats import ModelStats
from smolit.models.versions import ModelVersion, ModelVersions
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import SecretStore
from smolit.units import MIB

logger = logging.getLogger(__name__)

#: a model: a reference (None: the default model), or one resolved already
ModelRef = str | ResolvedModel | None


class ModelManager:
    """Knows every model, holds the loaded ones, and measures them."""

    def __init__(
        self,
        settings: ModelsSettings,
        secrets: SecretStore | None = None,
        registry: BackendRegistry | None = None,
        versions: ModelVersions | None = None,
        resolve_ttl: float = RESOLVE_TTL_SECONDS,
        egress: EgressPolicy | None = None,
    ) -> None:
        """``secrets``: where ``api_key_env`` names are read (default: none allowed);
        ``egress``: where remote backends may connect (default: public addresses only).
        A configured definition that either refuses is a ``ConfigError`` naming its key.
        A resolution is cached for ``resolve_ttl`` seconds; with ``models.auto_update:
        false`` it is pinned until restart (``ModelResolver``)."""
        self.default_model = settings.default_model
        self.auto_update = settings.auto_update
        self.loader = BackendLoader(registry or default_registry(), secrets, egress)
        self.egress = self.loader.egress
        for name, definition in settings.definitions.items():
            self.loader.check_configured(name, definition)
        self.catalog = ModelCatalog(
            dict(settings.definitions), settings.default_model, self.loader.backends, versions
        )
        self.resolver = ModelResolver(
            self.catalog, settings.default_model, pin=not settings.auto_update, ttl=resolve_ttl
        )
        self.pool = BackendPool(settings.max_memory_mb * MIB)
        self.stats = ModelStats()
        self._runner = ModelRunner(self._acquire, self.stats)

    def use_response_cache(self, responses: ResponseStore) -> None:
        """Answer ``generate(..., cache=True)`` calls from ``responses`` when it can."""
        self._runner.responses = responses

    def use_registry(self, versions: ModelVersions) -> None:
        """Resolve through ``versions`` from now on (when built without a registry)."""
        if self.catalog.versions is None:
            self.catalog.versions = versions
            self.invalidate()

    # --- resolving ----------------------------------------------------------------------

    def resolve(self, model: ModelRef = None) -> ResolvedModel:
        """What ``model`` (the default model when None) names now; a model resolved
        already is returned as it is."""
        if isinstance(model, ResolvedModel):
            return model
        return self.resolver.resolve(model)

    def invalidate(self) -> None:
        """Forget cached resolutions (pins stay: they last until restart)."""
        self.resolver.invalidate()

    def names(self) -> list[str]:
        """Every language model name: registered, defined, and instances added in code."""
        return self.resolver.names()

    def definition(self, model: ModelRef = None) -> ModelDefinition:
        return self.resolve(model).definition

    def add_definition(
        self, name: str, definition: ModelDefinition, *, replace: bool = False
    ) -> None:
        """Declare a model at run time (outside the registry); ``replace`` unloads the old."""
        self._check_name(name)
        self.check_policy(definition)
        if self.catalog.has_definition(name) and not replace:
            raise ConflictError(f"model {name!r} is already defined", details={"model": name})
        self.catalog.add_definition(name, definition)
        self.invalidate()
        if replace:
            self.pool.unload(name)

    def add_instance(self, name: str, backend: ModelBackend, *, replace: bool = False) -> None:
        """Put an already-built backend into the pool under ``name`` (a fake in tests)."""
        self._check_name(name)
        self.resolver.add_instance(name, backend, self.pool.peek, replace=replace)
        old = self.pool.put(name, backend)
        if old is not None and old is not backend:
            old.close()

    def check_policy(self, definition: ModelDefinition) -> None:
        """Refuse a definition the secret or egress policy refuses (``BackendLoader``)."""
        self.loader.check_policy(definition)

    @staticmethod
    def _check_name(name: str) -> None:
        if not re.fullmatch(NAME_PATTERN, name):
            raise SmolitValidationError(
                f"invalid model name {name!r}: lower-case letters, digits, '-' and '_'",
                details={"model": name},
            )

    def default_params(self, model: ModelRef = None) -> GenerationParams:
        """Generation parameters from the model's definition."""
        definition = self.resolve(model).definition
        return GenerationParams(
            max_new_tokens=definition.max_new_tokens,
            temperature=definition.temperature,
            repetition_penalty=definition.repetition_penalty,
        )

    def check(self, model: ModelRef = None) -> str | None:
        """None when ``model`` is usable, else why not; cheap: nothing is loaded."""
        try:
            resolved = self.resolve(model)
        except SmolitError as exc:
            return exc.message
        if self.pool.peek(resolved.key) is not None:
            return None
        return self.loader.problem(resolved.definition)

    # --- the pool -----------------------------------------------------------------------

    def _build(self, resolved: ResolvedModel) -> ModelBackend:
        instance = self.resolver.instance(resolved.key)
        return instance if instance is not None else self.loader.build(resolved)

    def _acquire(self, resolved: ResolvedModel) -> AbstractContextManager[ModelBackend]:
        return self.pool.acquire(
            resolved.key,
            lambda: self._build(resolved),
            self.loader.estimate(resolved.definition),
        )

    def get(self, model: ModelRef = None) -> ModelBackend:
        """The loaded backend of ``model``, loading it on first use (once, thread-safe)."""
        resolved = self.resolve(model)
        with self._acquire(resolved) as backend:
            result: ModelBackend = backend
        return result

    def preload(self, reference: str | None = None) -> ModelBackend:
        """Load ``reference`` now (warming at start-up) instead of on the first request."""
        return self.get(reference)

    def loaded(self) -> list[str]:
        """Keys (``name@version``, or plain names outside the registry) of loaded models."""
        return self.pool.keys()

    def resident(self) -> dict[str, Any]:
        """What is loaded, with memory and use, and the pool's budget."""
        return {"models": self.pool.resident(), **self.pool.budget()}

    def unload(self, key: str) -> bool:
        """Drop ``key`` from the pool and close it; False when it was not loaded."""
        self.resolver.drop_instance(key)
        return self.pool.unload(key)

    def close(self) -> None:
        """Unload every model."""
        self.resolver.drop_instance()
        self.pool.close()

    # --- generation (``generation.ModelRunner``) ----------------------------------------

    async def generate(
        self,
        model: ModelRef,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        cache: bool = False,
    ) -> GenerationResult:
        """Load if needed and generate in a worker thread, so the event loop never blocks;
        backend failures become ``ModelError``.

        With ``cache``, a deterministic (temperature 0) generation is answered from the
        response cache when this model version already answered the same prompt.
        """
        return await asyncio.to_thread(self._generate, model, messages, params, cache)

    def _generate(
        self,
        model: ModelRef,
        messages: list[ChatMessage],
        params: GenerationParams | None,
        cache: bool,
    ) -> GenerationResult:
        resolved = self.resolve(model)
        chosen = params or self.default_params(resolved)
        return self._runner.generate(resolved, messages, chosen, cache)

    async def stream(
        self,
        model: ModelRef,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Generate token by token in a worker thread; events arrive on the event loop.

        Resolution and parameter errors are raised before the first event. When the
        consumer stops early, the worker closes the model's stream after its next token.
        """
        resolved = await asyncio.to_thread(self.resolve, model)
        chosen = params or self.default_params(resolved)
        events = self._runner.stream(resolved, messages, chosen)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    # --- performance ----------------------------------------------------------------------

    def performance(self, key: str) -> dict[str, Any]:
        return self.stats.snapshot(key)

    # --- the registry -------------------------------------------------------------------

    def _versions(self) -> ModelVersions:
        if self.catalog.versions is None:
            raise SmolitValidationError("this model manager has no registry (no database)")
        return self.catalog.versions

    def register(
        self,
        name: str,
        definition: ModelDefinition,
        *,
        alias: str | None = None,
        notes: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Register ``definition`` as the next version of ``name`` (optionally promoted);
        its secret and URL are checked first (``check_policy``)."""
        self.check_policy(definition)
        version = self.catalog.register(name, definition, notes=notes, created_by=created_by)
        return self._registered(version, alias, created_by)

    def import_path(
        self,
        name: str,
        path: Path,
        definition: ModelDefinition,
        *,
        alias: str | None = None,
        notes: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Copy a model file or directory into the registry as the next version of ``name``."""
        self.check_policy(definition)
        version = self.catalog.import_path(
            name, path, definition, notes=notes, created_by=created_by
        )
        return self._registered(version, alias, created_by)

    def _registered(
        self, version: ModelVersion, alias: str | None, created_by: str | None
    ) -> ModelVersion:
        if alias is not None:
            self._versions().set_alias(version.name, alias, version.version, created_by)
        self.invalidate()
        logger.info("registered %s%s", version.key, f" as {version.name}@{alias}" if alias else "")
        return version

    def promote(
        self, name: str, version: int, alias: str, created_by: str | None = None
    ) -> ModelVersion:
        versions = self._versions()
        versions.set_alias(name, alias, version, created_by)
        self.invalidate()
        return versions.get(name, version)

    def rollback(self, name: str, alias: str, created_by: str | None = None) -> ModelVersion:
        versions = self._versions()
        target = versions.rollback(name, alias, created_by)
        self.invalidate()
        return versions.get(name, target)

    def remove(self, name: str, version: int, *, force: bool = False) -> ModelVersion:
        removed = self._versions().remove(name, version, force=force)
        self.invalidate()
        self.pool.unload(removed.key)
        return removed
