"""``RedisTier``: the cache tier the workers of a distributed installation share.

An unreachable Redis never fails a caller: every operation then answers as a miss (or
does nothing), one warning is logged per ``warn_interval`` seconds, and the server is
tried again at most every ``retry_interval`` seconds so an outage costs no timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis

from smolit.cache.policies import Clock
from smolit.redact import redact_url

logger = logging.getLogger(__name__)

NAMESPACE = "smolit:cache"
T = TypeVar("T")


class RedisTier:
    """Byte values under ``smolit:cache:<kind>:<key>``, each with its own TTL."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 1.0,
        retry_interval: float = 5.0,
        warn_interval: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.url = redact_url(url)
        # Any: redis-py's command return types differ between its 6.x and 8.x stubs
        self._client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self._retry_interval = retry_interval
        self._warn_interval = warn_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._last_warning: float | None = None
        self.errors = 0

    @property
    def available(self) -> bool:
        """False while an outage is assumed (until the next retry succeeds)."""
        return self._down_until is None

    def _call(self, operation: Callable[[], T], fallback: T) -> T:
        with self._lock:
            if self._down_until is not None and self._clock() < self._down_until:
                return fallback
        try:
            result = operation()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return fallback
        with self._lock:
            if self._down_until is not None:
                logger.info("Redis cache tier at %s is reachable again", self.url)
            self._down_until = None
        return result

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            now = self._clock()
            self.errors += 1
            self._down_until = now + self._retry_interval
            if self._last_warning is None or now - self._last_warning >= self._warn_interval:
                self._last_warning = now
                logger.warning(
                    "Redis cache tier at %s is unreachable (%s: %s): caching locally only",
                    self.url,
                    type(exc).__name__,
                    exc,
                )

    @staticmethod
    def _key(kind: str, key: str) -> str:
        return f"{NAMESPACE}:{kind}:{key}"

    def get_many(self, kind: str, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        names = [self._key(kind, key) for key in keys]
        misses: list[bytes | None] = [None] * len(keys)
        values: list[Any] = self._call(lambda: list(self._client.mget(names)), misses)
        return [value if isinstance(value, bytes) else None for value in values]

    def set_many(self, kind: str, items: Mapping[str, bytes], ttl: float) -> None:
        if not items:
            return
        milliseconds = max(1, int(ttl * 1000))

        def write() -> None:
            with self._client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._key(kind, key), value, px=milliseconds)
                pipe.execute()

        self._call(write, None)

    def count(self, kind: str) -> int | None:
        """How many keys of ``kind`` Redis holds; None when it cannot be reached."""
        pattern = self._key(kind, "*")
        return self._call(
            lambda: sum(1 for _ in self._client.scan_iter(match=pattern, count=500)), None
        )

    def clear(self, kind: str) -> int | None:
        """Delete every key of ``kind``; how many, or None when Redis cannot be reached."""
        pattern = self._key(kind, "*")

        def delete() -> int:
            removed = 0
            batch: list[Any] = []
            for name in self._client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += int(self._client.delete(*batch))
                    batch = []
            if batch:
                removed += int(self._client.delete(*batch))
            return removed

        return self._call(delete, None)

    def stats(self) -> dict[str, Any]:
        return {"url": self.url, "available": self.available, "errors": self.errors}

    def close(self) -> None:
        self._client.close()
