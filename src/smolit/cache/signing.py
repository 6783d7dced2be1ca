"""``Signer``: authenticates the values caches write to stores other processes share.

Every value written to Redis or to the embedding cache on disk is sealed: a format byte,
then an HMAC-SHA256 tag over (cache kind, key, payload) with the deployment key, then the
payload. ``open`` gives the payload back only when the tag is right, so a value doctored
by anyone who can write to the store (or moved to another key, or written under another
deployment's key) is refused, never parsed beyond this check.

The key is resolved on first use (``key`` may be a callable): the deployment key lives in
the database, which is migrated after the caches are built.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import threading
from collections.abc import Callable

from smolit.cache.bounded import CacheStats
from smolit.errors import ConfigError

logger = logging.getLogger(__name__)

#: the first byte of every sealed value (a later format gets another)
FORMAT = b"\x01"
TAG_BYTES = hashlib.sha256().digest_size
#: the shortest deployment key accepted
MIN_KEY_BYTES = 16

KeySource = bytes | Callable[[], bytes]


def _framed(*parts: bytes) -> bytes:
    """``parts`` length-prefixed, so no two different triples frame alike."""
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


class Signer:
    """Seals and opens values with one deployment key."""

    def __init__(self, key: KeySource) -> None:
        self._source = key
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is not None:
                return self._key
        # resolved outside the lock: the source may wait for the database, whose writers
        # may be waiting for this lock; two threads resolving at once get the same key
        key = self._source() if callable(self._source) else self._source
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"the deployment key must be at least {MIN_KEY_BYTES} bytes "
                "(security.deployment_key_env)",
                details={"rule": "security.deployment_key_env"},
            )
        with self._lock:
            if self._key is None:
                self._key = key
            return self._key

    def resolve(self) -> None:
        """Resolve the key now (at start-up), so a misconfiguration fails there."""
        self._secret()

    def tag(self, kind: str, key: str, payload: bytes) -> bytes:
        message = _framed(kind.encode(), key.encode("utf-8", "surrogatepass"), payload)
        return hmac.new(self._secret(), message, hashlib.sha256).digest()

    def seal(self, kind: str, key: str, payload: bytes) -> bytes:
        """``payload`` as stored: format byte, tag, payload."""
        return FORMAT + self.tag(kind, key, payload) + payload

    def open(self, kind: str, key: str, sealed: object) -> bytes | None:
        """The payload of ``sealed``; None when it is not a value this deployment sealed
        for this kind and key (wrong format, missing or wrong tag)."""
        if not isinstance(sealed, bytes) or len(sealed) < 1 + TAG_BYTES:
            return None
        if sealed[:1] != FORMAT:
            return None
        tag, payload = sealed[1 : 1 + TAG_BYTES], sealed[1 + TAG_BYTES :]
        if not hmac.compare_digest(tag, self.tag(kind, key, payload)):
            return None
        return payload


def refuse(counters: CacheStats, kind: str, key: str, store: str, reason: str) -> None:
    """Count a refused stored value and log one warning naming it, never its content."""
    counters.rejected += 1
    logger.warning("refused the %s cache's value for %s from %s: %s", kind, key, store, reason)
