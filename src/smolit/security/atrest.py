"""Keys for encryption at rest: ``security.encryption_key_env`` or ``encryption_key_file``.

The configured key (32 bytes, base64) is never used as is: each use gets its own key
derived with HKDF-SHA256 (``database`` for SQLCipher, ``files`` for uploads and FAISS
indexes, ``backup`` for backups when ``system.backup_key_env`` is not set), so no key
serves two ciphers. A malformed key is a ``ConfigError`` naming the setting, never the
value.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.storage import Database

KEY_BYTES = 32
NEW_KEY_COMMAND = 'python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"'


def decode_key(raw: str, setting: str) -> bytes:
    """The 32 bytes in base64 ``raw``; ``ConfigError`` naming ``setting`` otherwise."""
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            f"{setting}: the key is not valid base64; create one with `{NEW_KEY_COMMAND}`",
            details={"key": setting},
        ) from exc
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{setting}: the key must hold 32 bytes (base64); it holds {len(key)}",
            details={"key": setting},
        )
    return key


def key_from_environment(setting: str, variable: str, environ: Mapping[str, str]) -> bytes:
    """The key in ``$variable``, which ``setting`` names; ``ConfigError`` when it is unset
    or malformed."""
    raw = environ.get(variable)
    if not raw:
        raise ConfigError(
            f"{setting} names {variable}, which is not set; create a key with `{NEW_KEY_COMMAND}`",
            details={"key": setting},
        )
    return decode_key(raw, f"{setting} (${variable})")


def _derive(master: bytes, purpose: str) -> bytes:
    info = f"smolit encryption at rest: {purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class AtRestKeys:
    """The keys derived from the configured key, one per use."""

    database: bytes
    files: bytes
    backup: bytes

    @classmethod
    def from_master(cls, master: bytes) -> AtRestKeys:
        return cls(
            database=_derive(master, "database"),
            files=_derive(master, "files"),
            backup=_derive(master, "backup"),
        )

    def __repr__(self) -> str:  # never the key bytes in a log or a traceback
        return "AtRestKeys(<hidden>)"


def _read_key_file(name: str, base: Path) -> str:
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base / path
    setting = "security.encryption_key_file"
    try:
        info = path.stat()
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{setting}: {path} must be readable by its owner only "
                f"(mode {stat.S_IMODE(info.st_mode):o}; run chmod 600 {path})",
                details={"key": setting, "file": str(path), "rule": f"{setting} mode 0600"},
            )
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{setting}: cannot read {path} ({type(exc).__name__})",
            details={"key": setting, "file": str(path)},
        ) from exc


def load_at_rest_keys(settings: Settings, environ: Mapping[str, str]) -> AtRestKeys | None:
    """The keys, or None when encryption at rest is off; ``ConfigError`` when both
    settings are given, the variable is unset, or the key is malformed."""
    security = settings.security
    if security.encryption_key_env and security.encryption_key_file:
        raise ConfigError(
            "set security.encryption_key_env or security.encryption_key_file, not both",
            details={"key": "security.encryption_key_env"},
        )
    if security.encryption_key_env:
        variable = security.encryption_key_env
        return AtRestKeys.from_master(
            key_from_environment("security.encryption_key_env", variable, environ)
        )
    if security.encryption_key_file:
        base = settings.config_file.parent if settings.config_file else Path.cwd()
        raw = _read_key_file(security.encryption_key_file, base)
        return AtRestKeys.from_master(decode_key(raw, "security.encryption_key_file"))
    return None


def open_database(settings: Settings, environ: Mapping[str, str]) -> Database:
    """The installation's database, opened with its at-rest key when one is configured."""
    keys = load_at_rest_keys(settings, environ)
    return Database(settings.database_url, key=keys.database if keys else None)
