"""``ResponseCache``: answers of deterministic generations (temperature 0).

A response is keyed by the model *version* key (``name@version``: a promoted new version
never serves the old one's answers), the messages and every generation parameter. Other
temperatures sample, so their calls are neither looked up nor stored. With a Redis tier,
one worker's answer is a hit for every other worker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import time
from collections.abc import Mapping
from typing import Any

from smolit.cache.bounded import MISSING, BoundedCache, check_ttl, pickled
from smolit.cache.policies import Clock
from smolit.cache.redis_tier import RedisTier
from smolit.errors import ValidationError

logger = logging.getLogger(__name__)

KIND = "response"


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and pydantic models become mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # 0 and 0.0 ask for the same generation
    if value is None or isinstance(value, str | bool):
        return value
    raise ValidationError(
        f"cannot key a cached response on a value of type {type(value).__qualname__}",
        details={"type": type(value).__qualname__},
    )


def response_key(model_key: str, messages: Any, params: Any) -> str:
    """The SHA-256 of the model version key, the messages and the parameters."""
    if not isinstance(model_key, str) or not model_key:
        raise ValidationError("model_key must be a model version key such as 'smollm2@1'")
    canonical = json.dumps(
        [model_key, _plain(messages), _plain(params)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def is_deterministic(params: Any) -> bool:
    """True when ``params`` asks for temperature 0 (greedy decoding)."""
    plain = _plain(params)
    if not isinstance(plain, dict):
        return False
    temperature = plain.get("temperature")
    return isinstance(temperature, int | float) and temperature == 0


class ResponseCache:
    """Generation results in memory, measured by pickled size, and in Redis if given."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        redis: RedisTier | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.memory = BoundedCache(
            KIND, limit_bytes, policy=policy, default_ttl=default_ttl, clock=clock
        )
        self.redis = redis
        #: lookups and stores skipped because the generation samples (temperature > 0)
        self.skipped = 0
        self.redis_hits = 0

    def get(self, model_key: str, messages: Any, params: Any) -> Any:
        """The cached result of this generation, or None (a miss, or not cacheable)."""
        if not is_deterministic(params):
            self.skipped += 1
            return None
        key = response_key(model_key, messages, params)
        value = self.memory.peek(key)
        if value is MISSING and self.redis is not None:
            value = self._from_redis(key)
        self.memory.record(value is not MISSING)
        return None if value is MISSING else value

    def _from_redis(self, key: str) -> Any:
        assert self.redis is not None
        raw = self.redis.get_many(KIND, [key])[0]
        if raw is None:
            return MISSING
        try:
            value = pickle.loads(raw)
        except Exception as exc:  # a foreign or truncated value: treat it as absent
            logger.warning("ignoring an unreadable cached response in Redis: %s", exc)
            return MISSING
        self.redis_hits += 1
        self.memory.put_sized(key, value, len(raw), self.memory.default_ttl)
        return value

    def put(
        self, model_key: str, messages: Any, params: Any, result: Any, ttl: float | None = None
    ) -> bool:
        """Cache ``result``; False when the generation samples or the result is too big
        for this cache (nothing is evicted then)."""
        if not is_deterministic(params):
            self.skipped += 1
            return False
        key = response_key(model_key, messages, params)
        lifetime = check_ttl(ttl, self.memory.default_ttl)
        raw = pickled(result)
        stored = self.memory.put_sized(key, result, len(raw), lifetime)
        if stored and self.redis is not None:
            self.redis.set_many(KIND, {key: raw}, lifetime)
        return stored

    def expire(self) -> int:
        return self.memory.expire()

    def clear(self) -> int:
        """Remove every response here and in Redis; how many were in this process."""
        removed = self.memory.clear()
        if self.redis is not None:
            self.redis.clear(KIND)
        return removed

    def stats(self) -> dict[str, Any]:
        stats = {**self.memory.stats(), "skipped": self.skipped}
        if self.redis is not None:
            stats["redis"] = {**self.redis.stats(), "hits": self.redis_hits}
        return stats
