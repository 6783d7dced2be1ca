"""The deployment key: authenticates the values processes of one deployment share.

With ``security.deployment_key_env`` the key comes from that secret (resolved through
``SecretStore``; the operator wrote its name in the configuration, so it is allowlisted).
Otherwise a random 32-byte key is generated once and kept in the ``deployment_keys`` table,
so every process sharing the database (the server, ``smolit worker`` processes on other
machines) agrees on it without configuration. Creating it is race-free: each process
inserts its candidate only if no key of that name exists, then reads back the one stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from smolit.config import Settings
from smolit.errors import ConfigError, StorageError
from smolit.security.secrets import operator_secrets
from smolit.storage import Database
from smolit.storage.tables import DeploymentKeyRow, utcnow

#: the row of the key that seals values in shared caches
CACHE_KEY = "cache"
KEY_BYTES = 32
#: the shortest secret accepted as security.deployment_key_env
MIN_SECRET_CHARS = 32
SETTING = "security.deployment_key_env"


def _read(database: Database, name: str) -> str | None:
    with database.read() as session:
        return session.scalar(select(DeploymentKeyRow.value).where(DeploymentKeyRow.name == name))


def _insert_if_absent(database: Database, name: str, value: str) -> None:
    insert = sqlite.insert if database.dialect == "sqlite" else postgresql.insert
    statement = (
        insert(DeploymentKeyRow)
        .values(name=name, value=value, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    with database.session() as session:
        session.execute(statement)


def stored_key(database: Database, name: str = CACHE_KEY) -> bytes:
    """The key ``name`` from the database, generated and stored by the first caller."""
    value = _read(database, name)
    if value is None:
        candidate = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
        _insert_if_absent(database, name, candidate)
        value = _read(database, name)
    try:
        key = base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StorageError(f"the stored deployment key {name!r} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise StorageError(f"the stored deployment key {name!r} is not {KEY_BYTES} bytes")
    return key


def configured_key(settings: Settings, environ: Mapping[str, str]) -> bytes | None:
    """The key from ``security.deployment_key_env``; None when that is not set."""
    name = settings.security.deployment_key_env
    if not name:
        return None
    value = operator_secrets(settings, environ).get(name, field=SETTING)
    if value is None:
        raise ConfigError(
            f"{SETTING} names the secret {name!r}, which is not set",
            details={"setting": SETTING, "secret": name},
        )
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{SETTING}: the secret {name!r} must be at least {MIN_SECRET_CHARS} characters "
            "(e.g. the output of 'openssl rand -base64 32')",
            details={"setting": SETTING, "secret": name, "rule": "length"},
        )
    # a key of its own for the caches, should the same secret serve another purpose
    return hmac.new(value.encode("utf-8"), b"smolit cache key v1", hashlib.sha256).digest()


def deployment_key(settings: Settings, database: Database, environ: Mapping[str, str]) -> bytes:
    """The configured key, else the one stored in ``database`` (migrated)."""
    return configured_key(settings, environ) or stored_key(database)


def deployment_key_source(settings: Settings, environ: Mapping[str, str]) -> Callable[[], bytes]:
    """For commands without a running system: resolves the key when first needed, opening
    (and migrating) the database only when no key is configured."""

    def resolve() -> bytes:
        configured = configured_key(settings, environ)
        if configured is not None:
            return configured
        database = Database(settings.database_url)
        try:
            database.migrate()
            return stored_key(database)
        finally:
            database.dispose()

    return resolve
