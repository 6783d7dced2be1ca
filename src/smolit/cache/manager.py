"""``CacheManager``: the four caches of one process, their budget and their cleanup.

``system.cache_size`` (MB) is split by ``cache.shares``; every cache uses ``cache.policy``
and ``cache.default_ttl``. With ``cache.redis_url`` (or a Redis ``queue``) embeddings and
responses are shared between processes through Redis. ``start()`` sweeps this process's
memory caches every ``cache.cleanup_interval`` seconds in a daemon thread; ``stop()`` ends
it. The stores processes share (the embedding cache on disk; Redis expires its own keys)
are swept by ``cleanup_shared``, which the deployment runs once per interval as the
``cache-cleanup`` job. What goes to those shared stores is sealed with the deployment key
(``key``), which the composition root resolves (``smolit.security.deployment_key``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from smolit.cache.bounded import MemoryCache
from smolit.cache.embedding import EmbeddingCache
from smolit.cache.encoder import CachedEncoder
from smolit.cache.policies import Clock
from smolit.cache.redis_tier import RedisTier
from smolit.cache.response import JsonCodec, ResponseCache
from smolit.cache.signing import KeySource, Signer
from smolit.cache.tensor import TensorCache
from smolit.config import CacheSettings, Settings
from smolit.encoding.base import TextEncoder
from smolit.errors import ValidationError
from smolit.units import MIB

logger = logging.getLogger(__name__)

CacheType = Literal["memory", "tensor", "embedding", "response"]
CACHE_TYPES: tuple[CacheType, ...] = ("memory", "tensor", "embedding", "response")
#: caches held in this process's memory; the embedding cache lives on disk under home
LOCAL_CACHE_TYPES: tuple[CacheType, ...] = ("memory", "tensor", "response")
SHARED_CACHE_TYPES: tuple[CacheType, ...] = ("embedding",)


class Cache(Protocol):
    def expire(self) -> int: ...

    def clear(self) -> int: ...

    def stats(self) -> dict[str, Any]: ...


def check_type(name: str) -> CacheType:
    """``name`` if it is a cache type; otherwise a ``ValidationError`` listing them."""
    if name not in CACHE_TYPES:
        raise ValidationError(
            f"unknown cache type {name!r}; valid types: {', '.join(CACHE_TYPES)}",
            details={"type": name, "valid": list(CACHE_TYPES)},
        )
    return name


def shared_redis_url(settings: Settings) -> str | None:
    """``cache.redis_url``, else ``queue`` when it is a Redis URL, else None."""
    if settings.cache.redis_url:
        return settings.cache.redis_url
    return settings.queue if settings.queue != "local" else None


def embeddings_dir(home: Path) -> Path:
    return home / "cache" / "embeddings"


class CacheManager:
    """The memory, tensor, embedding and response caches of one process."""

    def __init__(
        self,
        settings: CacheSettings,
        *,
        home: Path,
        total_mb: int,
        key: KeySource,
        redis_url: str | None = None,
        response_codec: JsonCodec | None = None,
        clock: Clock = time.monotonic,
        disk_embeddings: bool = True,
    ) -> None:
        """``key``: the deployment key (or what resolves it on first use); ``response_codec``
        maps the response cache's values to JSON (plain JSON data by default);
        ``disk_embeddings=False`` turns the embedding cache off (with encryption at rest:
        vectors of private text are not kept in the clear on disk)."""
        self.settings = settings
        self.signer = Signer(key)
        self.total_bytes = total_mb * MIB
        shares = settings.shares
        common: dict[str, Any] = {"policy": settings.policy, "default_ttl": settings.default_ttl}
        self.redis = RedisTier(redis_url, clock=clock) if redis_url else None
        self.memory = MemoryCache(self._share(shares.memory), clock=clock, **common)
        self.tensor = TensorCache(self._share(shares.tensor), clock=clock, **common)
        self.embedding = EmbeddingCache(
            embeddings_dir(home),
            self._share(shares.embedding) if disk_embeddings else 0,
            signer=self.signer,
            redis=self.redis,
            **common,
        )
        self.response = ResponseCache(
            self._share(shares.response),
            redis=self.redis,
            signer=self.signer,
            codec=response_codec,
            clock=clock,
            **common,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        key: KeySource,
        response_codec: JsonCodec | None = None,
        clock: Clock = time.monotonic,
    ) -> CacheManager:
        return cls(
            settings.cache,
            home=settings.home,
            total_mb=settings.system.cache_size,
            key=key,
            redis_url=shared_redis_url(settings),
            response_codec=response_codec,
            clock=clock,
            disk_embeddings=not (
                settings.security.encryption_key_env or settings.security.encryption_key_file
            ),
        )

    def _share(self, share: float) -> int:
        return int(self.total_bytes * share)

    def cache(self, name: str) -> Cache:
        caches: dict[CacheType, Cache] = {
            "memory": self.memory,
            "tensor": self.tensor,
            "embedding": self.embedding,
            "response": self.response,
        }
        return caches[check_type(name)]

    def cached_encoder(self, encoder: TextEncoder, version: str = "1") -> CachedEncoder:
        """``encoder`` behind the embedding cache (the router and the knowledge base)."""
        return CachedEncoder(encoder, self.embedding, version)

    # --- operations on one cache or all -------------------------------------------------

    def clear(self, name: str | None = None) -> dict[str, int]:
        """Empty one cache (or all): entries removed per cache."""
        names = [check_type(name)] if name is not None else list(CACHE_TYPES)
        return {each: self.cache(each).clear() for each in names}

    def cleanup_local(self) -> dict[str, int]:
        """Expire this process's memory caches (every process sweeps its own)."""
        return {name: self.cache(name).expire() for name in LOCAL_CACHE_TYPES}

    def cleanup_shared(self) -> dict[str, int]:
        """Expire the stores all processes share (once per interval per deployment)."""
        removed: dict[str, int] = {name: self.cache(name).expire() for name in SHARED_CACHE_TYPES}
        if any(removed.values()):
            logger.info("cache cleanup removed %s", removed)
        return removed

    def stats(self) -> dict[str, Any]:
        return {
            "policy": self.settings.policy,
            "limit_bytes": self.total_bytes,
            "redis": self.redis.stats() if self.redis is not None else None,
            "caches": {name: self.cache(name).stats() for name in CACHE_TYPES},
        }

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Sweep this process's memory caches every ``cache.cleanup_interval`` seconds."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._sweep, name="smolit-cache-cleanup", daemon=True
        )
        self._thread.start()

    def _sweep(self) -> None:
        while not self._stopping.wait(self.settings.cleanup_interval):
            try:
                removed = self.cleanup_local()
            except Exception as exc:  # the sweep must outlive any one failure
                logger.warning("cache cleanup failed: %s: %s", type(exc).__name__, exc)
                continue
            if any(removed.values()):
                logger.debug("cache cleanup removed %s", removed)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.embedding.close()
        if self.redis is not None:
            self.redis.close()
