"""Bearer tokens: created once, shown once, stored as SHA-256 digests.

``authenticate`` keeps what it found for ``cache_seconds`` (``security.token_cache_seconds``)
in a small in-process cache keyed by the digest, so a busy client costs no database lookup
per request. A revoke in this process clears the cache at once; a revoke by another
process (``smolit token revoke``, another server) takes effect here within
``cache_seconds``. Only valid tokens are cached.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select

from smolit.errors import AuthError, NotFoundError, ValidationError
from smolit.storage import ApiTokenRow, Database
from smolit.storage.tables import utcnow

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = ("admin", "user")
TOKEN_PREFIX = "snn_"
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
#: tokens remembered at most; more valid tokens than this in use within the TTL only
#: cost database lookups
CACHE_ENTRIES = 10_000
#: where ``smolit serve`` writes the bootstrap admin token, in the data directory
ADMIN_TOKEN_FILE = "admin-token"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user a token belongs to, and the token's role."""

    user: str
    role: Role
    token_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class IssuedToken:
    id: str
    user: str
    role: Role
    name: str
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenService:
    def __init__(
        self,
        database: Database,
        token_bytes: int = 32,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._token_bytes = token_bytes
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_lock = threading.Lock()

    def create(self, user: str, role: Role = "user", name: str = "default") -> IssuedToken:
        if not USER_PATTERN.match(user):
            raise ValidationError(
                f"invalid user name {user!r}: letters, digits and _.@- only, at most 64"
            )
        if role not in ROLES:
            raise ValidationError(f"invalid role {role!r}: one of {', '.join(ROLES)}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(self._token_bytes)
        row = ApiTokenRow(
            id=str(uuid.uuid4()),
            name=name[:64],
            user=user,
            role=role,
            token_hash=digest(secret),
            created_at=utcnow(),
            revoked=False,
        )
        with self._db.session() as session:
            session.add(row)
        return IssuedToken(id=row.id, user=user, role=role, name=row.name, secret=secret)

    def ensure_admin(self) -> IssuedToken | None:
        """Create the first admin token when no token exists yet; otherwise None."""
        with self._db.session() as session:
            count = session.scalar(select(func.count()).select_from(ApiTokenRow)) or 0
        if count:
            return None
        return self.create("admin", "admin", name="bootstrap")

    def cached(self, secret: str | None) -> Principal | None:
        """The principal of ``secret`` if it was authenticated within ``cache_seconds``;
        no I/O, so the event loop may call it."""
        if not secret:
            return None
        key = digest(secret)
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._cache[key]
                return None
            return entry[0]

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
        known = self.cached(secret)
        if known is not None:
            return known
        key = digest(secret)
        with self._db.read() as session:
            row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == key))
            if row is None or row.revoked:
                raise AuthError("invalid or revoked token")
            principal = Principal(user=row.user, role=row.role, token_id=row.id)  # type: ignore[arg-type]
        if self._cache_seconds > 0:
            with self._cache_lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[key] = (principal, self._clock() + self._cache_seconds)
        return principal

    def revoke(self, token_id: str) -> None:
        with self._db.session() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFoundError(f"no token with id {token_id!r}")
            row.revoked = True
        with self._cache_lock:  # revoked here: refused from now on, not after the TTL
            self._cache.clear()

    def list(self) -> list[ApiTokenRow]:
        with self._db.session() as session:
            return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at)))


def save_admin_token(path: Path, secret: str) -> Path:
    """Write the bootstrap admin token to ``path``, readable by the owner only (0600),
    created anew (``O_EXCL``: never through a link someone placed there). A file left from
    an earlier bootstrap holds a token the database no longer knows: it is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    return path
