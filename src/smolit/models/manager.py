"""``ModelManager``: the one door to every language model the agents and the API use.

It resolves references (``name``, ``name@alias``, ``name@version``) through the catalog,
loads models into the memory-budgeted pool, runs generations in worker threads (so the
event loop never waits on a model), records performance per model version, and changes
the registry (register, import, promote, rollback, remove).

Resolution is cached for ``resolve_ttl`` seconds (a registry change made through this
manager clears the cache at once; one made by another process is seen within the TTL).
With ``models.auto_update: false`` a reference is resolved once per process and stays
pinned to that version until restart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterator
from pathlib import Path
from typing import Any

from smolit.cache.response import ResponseCache
from smolit.config import NAME_PATTERN, ModelDefinition, ModelsSettings, SecretsSettings
from smolit.errors import (
    ConfigError,
    ConflictError,
    EgressDeniedError,
    ModelError,
    NotFoundError,
    SecretNotAllowedError,
    SmolitError,
)
from smolit.errors import ValidationError as SmolitValidationError
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.catalog import ModelCatalog, ResolvedModel
from smolit.models.pool import MB, ModelPool
from smolit.models.registry import BackendRegistry, default_registry
from smolit.models.stats import ModelStats
from smolit.models.versions import ModelVersion, ModelVersions
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import SecretStore

logger = logging.getLogger(__name__)

RESOLVE_TTL_SECONDS = 1.0


def resolve_api_key(definition: ModelDefinition, secrets: SecretStore) -> str | None:
    """The API key named by ``definition.api_key_env``; None when the model needs none.

    Only a secret the operator listed in ``secrets:`` may be named (not one given for
    another purpose, such as the backup key): else ``SecretNotAllowedError``."""
    if not definition.api_key_env:
        return None
    value = secrets.get(definition.api_key_env, field="api_key_env", implicit=False)
    if not value:
        raise ConfigError(
            f"secret {definition.api_key_env} (api_key_env) is not set",
            details={"api_key_env": definition.api_key_env},
        )
    return value


def _no_secrets() -> SecretStore:
    return SecretStore(SecretsSettings(), {})


def _failure(resolved: ResolvedModel, exc: Exception) -> ModelError:
    return ModelError(
        f"model {resolved.key!r} failed: {type(exc).__name__}: {exc}",
        details={"model": resolved.key},
    )


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
        A configured definition that either refuses is a ``ConfigError`` naming its key."""
        self.default_model = settings.default_model
        self.auto_update = settings.auto_update
        self._secrets = secrets or _no_secrets()
        self.egress = egress or EgressPolicy()
        for name, definition in settings.definitions.items():
            self._check_configured(name, definition)
        self._backends = registry or default_registry()
        self.catalog = ModelCatalog(
            dict(settings.definitions), settings.default_model, self._backends, versions
        )
        self.pool = ModelPool(settings.max_memory_mb * MB)
        self.stats = ModelStats()
        self._instances: dict[str, ModelBackend] = {}
        self._resolved: dict[str, tuple[float, ResolvedModel]] = {}
        self._pins: dict[str, ResolvedModel] = {}
        self._resolve_ttl = resolve_ttl
        self._guard = threading.Lock()
        self._responses: ResponseCache | None = None

    def use_response_cache(self, responses: ResponseCache) -> None:
        """Answer ``generate(..., cache=True)`` calls from ``responses`` when it can."""
        self._responses = responses

    def use_registry(self, versions: ModelVersions) -> None:
        """Resolve through ``versions`` from now on (when built without a registry)."""
        if self.catalog.versions is None:
            self.catalog.versions = versions
            self.invalidate()

    # --- resolving ----------------------------------------------------------------------

    def resolve(self, reference: str | None = None) -> ResolvedModel:
        """What ``reference`` (the default model when None) names now."""
        reference = reference or self.default_model
        with self._guard:
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
            raise self.catalog.not_found(reference, list(self._instances)) from exc
        with self._guard:
            self._resolved[reference] = (now + self._resolve_ttl, resolved)
            if not self.auto_update:
                self._pins[reference] = resolved
        return resolved

    def invalidate(self) -> None:
        """Forget cached resolutions (pins stay: they last until restart)."""
        with self._guard:
            self._resolved.clear()

    def names(self) -> list[str]:
        """Every language model name: registered, defined, and instances added in code."""
        with self._guard:
            instances = set(self._instances)
        return sorted(set(self.catalog.names()) | instances)

    def definition(self, reference: str | None = None) -> ModelDefinition:
        return self.resolve(reference).definition

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
        with self._guard:
            taken = name in self._instances or self.pool.peek(name) is not None
            if taken and not replace:
                raise ConflictError(f"model {name!r} is already loaded", details={"model": name})
            self._instances[name] = backend
        old = self.pool.put(name, backend)
        if old is not None and old is not backend:
            old.close()

    def check_policy(self, definition: ModelDefinition) -> None:
        """Refuse a definition whose ``api_key_env`` is not an allowlisted secret
        (``SecretNotAllowedError``) or whose ``base_url`` the egress policy refuses
        (``EgressDeniedError``)."""
        if definition.api_key_env:
            self._secrets.check(definition.api_key_env, field="api_key_env", implicit=False)
        if definition.base_url:
            self.egress.check_url(definition.base_url)

    def _check_configured(self, name: str, definition: ModelDefinition) -> None:
        try:
            self.check_policy(definition)
        except (SecretNotAllowedError, EgressDeniedError) as exc:
            field = "api_key_env" if isinstance(exc, SecretNotAllowedError) else "base_url"
            key = f"models.definitions.{name}.{field}"
            raise ConfigError(f"{key}: {exc.message}", details={"key": key}) from exc

    @staticmethod
    def _check_name(name: str) -> None:
        if not re.fullmatch(NAME_PATTERN, name):
            raise SmolitValidationError(
                f"invalid model name {name!r}: lower-case letters, digits, '-' and '_'",
                details={"model": name},
            )

    def default_params(self, reference: str | None = None) -> GenerationParams:
        """Generation parameters from the model's definition."""
        definition = self.definition(reference)
        return GenerationParams(
            max_new_tokens=definition.max_new_tokens,
            temperature=definition.temperature,
            repetition_penalty=definition.repetition_penalty,
        )

    def check(self, reference: str | None = None) -> str | None:
        """None when ``reference`` is usable, else why not; cheap: nothing is loaded."""
        try:
            resolved = self.resolve(reference)
        except SmolitError as exc:
            return exc.message
        if self.pool.peek(resolved.key) is not None:
            return None
        try:
            cls = self._backends.get(resolved.definition.backend)
            resolve_api_key(resolved.definition, self._secrets)
        except (ConfigError, SecretNotAllowedError) as exc:
            return exc.message
        return cls.check_definition(resolved.definition)

    # --- the pool -----------------------------------------------------------------------

    def _build(self, resolved: ResolvedModel) -> ModelBackend:
        with self._guard:
            instance = self._instances.get(resolved.key)
        if instance is not None:
            return instance
        definition = resolved.definition
        cls = self._backends.get(definition.backend)
        api_key = resolve_api_key(definition, self._secrets)
        try:
            return cls.from_definition(
                resolved.key, definition, api_key=api_key, egress=self.egress
            )
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while loading
            raise ModelError(
                f"model {resolved.key!r} could not be loaded: {type(exc).__name__}: {exc}",
                details={"model": resolved.key, "backend": definition.backend},
            ) from exc

    def _estimate(self, resolved: ResolvedModel) -> int:
        try:
            cls = self._backends.get(resolved.definition.backend)
            return max(0, int(cls.estimate_memory_bytes(resolved.definition)))
        except SmolitError:
            return 0

    def _acquire(self, resolved: ResolvedModel) -> Any:
        return self.pool.acquire(
            resolved.key, lambda: self._build(resolved), self._estimate(resolved)
        )

    def get(self, reference: str | None = None) -> ModelBackend:
        """The loaded backend of ``reference``, loading it on first use (once, thread-safe)."""
        resolved = self.resolve(reference)
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
        with self._guard:
            self._instances.pop(key, None)
        return self.pool.unload(key)

    def close(self) -> None:
        """Unload every model."""
        with self._guard:
            self._instances.clear()
        self.pool.close()

    # --- generation ---------------------------------------------------------------------

    def generate_sync(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        cache: bool = False,
    ) -> GenerationResult:
        """Load if needed and generate, blocking; backend failures become ``ModelError``.

        With ``cache``, a deterministic (temperature 0) generation is answered from the
        response cache when this model version already answered the same prompt.
        """
        resolved = self.resolve(name)
        params = params or self.default_params(name)
        responses = self._responses if cache else None
        if responses is not None:
            hit = responses.get(resolved.key, messages, params)
            if hit is not None:
                return hit
        result = self._generate(resolved, messages, params)
        if responses is not None:
            responses.put(resolved.key, messages, params, result)
        return result

    def _generate(
        self, resolved: ResolvedModel, messages: list[ChatMessage], params: GenerationParams
    ) -> GenerationResult:
        started = time.perf_counter()
        result: GenerationResult | None = None
        try:
            with self._acquire(resolved) as backend:
                result = backend.generate(messages, params)
            return result
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while generating
            raise _failure(resolved, exc) from exc
        finally:
            self.stats.record(
                resolved.key, resolved.definition, time.perf_counter() - started, result
            )

    async def generate(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        cache: bool = False,
    ) -> GenerationResult:
        """``generate_sync`` in a worker thread, so the event loop never blocks."""
        return await asyncio.to_thread(self.generate_sync, name, messages, params, cache)

    def stream_sync(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
    ) -> Iterator[StreamEvent]:
        """Generate token by token, blocking; closing the iterator stops the model."""
        resolved = self.resolve(name)
        params = params or self.default_params(name)
        return self._stream(resolved, messages, params)

    def _stream(
        self, resolved: ResolvedModel, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        started = time.perf_counter()
        final: GenerationResult | None = None
        cancelled = False
        try:
            with self._acquire(resolved) as backend:
                events = backend.stream(messages, params)
                try:
                    for event in events:
                        if event.result is not None:
                            final = event.result
                        yield event
                finally:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()
        except GeneratorExit:
            cancelled = True
            raise
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while generating
            raise _failure(resolved, exc) from exc
        finally:
            if not cancelled:
                self.stats.record(
                    resolved.key,
                    resolved.definition,
                    time.perf_counter() - started,
                    final,
                    streamed=True,
                )

    async def astream(
        self,
        name: str | None,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """``stream_sync`` in a worker thread; events arrive on the event loop.

        Resolution and parameter errors are raised before the first event. When the
        consumer stops early, the worker closes the model's stream after its next token.
        """
        resolved = await asyncio.to_thread(self.resolve, name)
        chosen = params
        if chosen is None:
            chosen = await asyncio.to_thread(self.default_params, name)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StreamEvent | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def deliver(item: StreamEvent | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def produce() -> None:
            events = self._stream(resolved, messages, chosen)
            try:
                for event in events:
                    deliver(event)
                    if stop.is_set():
                        break
            except BaseException as exc:  # handed to the consumer, which raises it
                deliver(exc)
                return
            finally:
                events.close()
            deliver(None)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if producer.done():
                producer.result()

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
