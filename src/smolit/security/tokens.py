"""Bearer tokens: created once, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select

from smolit.errors import AuthError, NotFoundError, ValidationError
from smolit.storage import ApiTokenRow, Database
from smolit.storage.tables import utcnow

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = ("admin", "user")
TOKEN_PREFIX = "snn_"
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


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
    def __init__(self, database: Database, token_bytes: int = 32) -> None:
        self._db = database
        self._token_bytes = token_bytes

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

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
        with self._db.read() as session:
            row = session.scalar(
                select(ApiTokenRow).where(ApiTokenRow.token_hash == digest(secret))
            )
            if row is None or row.revoked:
                raise AuthError("invalid or revoked token")
            return Principal(user=row.user, role=row.role, token_id=row.id)  # type: ignore[arg-type]

    def revoke(self, token_id: str) -> None:
        with self._db.session() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFoundError(f"no token with id {token_id!r}")
            row.revoked = True

    def list(self) -> list[ApiTokenRow]:
        with self._db.session() as session:
            return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at)))
