"""SQLite files, encrypted with SQLCipher (``sqlcipher3``) when an at-rest key is given.

``connect`` opens a file with the standard ``sqlite3`` module when there is no key, or
with ``sqlcipher3`` and ``PRAGMA key`` (the raw-key form, so no key derivation runs per
connection) when there is. It refuses, with a ``ConfigError`` that names the setting, an
encrypted file without a key, a plain file with a key (``python -m smolit.backup encrypt``
encrypts it) and a file the key does not open. ``export_encrypted`` writes an encrypted
copy of a plain file (``sqlcipher_export``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

# re-exported: smolit.storage.database hands it to SQLAlchemy as the DBAPI module
import sqlcipher3 as sqlcipher3  # type: ignore[import-untyped]

from smolit.errors import ConfigError

#: SQLite's result code for a file whose header is not a plain database's
SQLITE_NOTADB = 26
#: the settings that hold the key, for messages
KEY_SETTING = "security.encryption_key_env (or security.encryption_key_file)"
#: errors either driver raises
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, sqlcipher3.Error)
#: also what opening a file can raise
OPEN_ERRORS: tuple[type[Exception], ...] = (OSError, *ERRORS)
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, sqlcipher3.IntegrityError)
ENCRYPT_COMMAND = "python -m smolit.backup encrypt"


def read_only_uri(path: Path) -> str:
    """A SQLite URI opening ``path`` read-only (``?`` and ``#`` in a name escaped)."""
    return f"file:{quote(str(path))}?mode=ro"


def state(path: Path) -> str:
    """'new' (missing or empty), 'plain' or 'encrypted' (or anything else unreadable).

    The header is read through SQLite, never with a plain ``open``: POSIX locks belong to
    the process, so closing any other descriptor of a database file drops the locks of
    every live connection this process has to it, and the next process to close its own
    connection then deletes the WAL they still write to. SQLite keeps such descriptors
    open until its last connection to the file lets go.
    """
    try:
        if path.stat().st_size == 0:
            return "new"
    except FileNotFoundError:
        return "new"
    connection = sqlite3.connect(read_only_uri(path), uri=True, timeout=30)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode == SQLITE_NOTADB:  # not a plain SQLite header
            return "encrypted"
        raise
    finally:
        connection.close()
    return "plain"


def key_pragma(key: bytes) -> str:
    return f"PRAGMA key = \"x'{key.hex()}'\""


def _check_state(path: Path, key: bytes | None) -> None:
    found = state(path)
    if key is None and found == "encrypted":
        # the driver's own error type, so callers report it as they report a damaged file
        raise sqlite3.DatabaseError(
            f"file is not a database: it is damaged, or encrypted (then set {KEY_SETTING} "
            "to its key)"
        )
    if key is not None and found == "plain":
        raise ConfigError(
            f"{path} is not encrypted, but {KEY_SETTING} is set: stop the servers and "
            f"workers of this data directory and run `{ENCRYPT_COMMAND}` to encrypt it "
            "(or unset the key)",
            details={"file": str(path), "rule": KEY_SETTING},
        )


def connect(
    path: Path, key: bytes | None, *, read_only: bool = False, **options: Any
) -> sqlite3.Connection:
    """A connection to ``path`` (typed as ``sqlite3.Connection``: ``sqlcipher3`` has the
    same interface; catch ``ERRORS`` rather than ``sqlite3.Error``)."""
    _check_state(path, key)
    target = read_only_uri(path) if read_only else str(path)
    if key is None:
        plain: sqlite3.Connection = sqlite3.connect(target, uri=read_only, **options)
        return plain
    connection: sqlite3.Connection = sqlcipher3.connect(target, uri=read_only, **options)
    try:
        # SQLCipher would also print a failed key check to stderr; the error says it
        connection.execute("PRAGMA cipher_log_level = NONE")
        connection.execute(key_pragma(key))
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as exc:
        connection.close()
        raise ConfigError(
            f"cannot open {path}: {KEY_SETTING} does not hold the key it was encrypted "
            "with, or the file is damaged",
            details={"file": str(path), "rule": KEY_SETTING},
        ) from exc
    return connection


def snapshot(source: Path, target: Path, key: bytes | None) -> None:
    """A consistent copy of a live database (the online backup API); with a key, both
    are encrypted with it."""
    src = connect(source, key, read_only=True, timeout=30)
    try:
        dst = connect(target, key)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def export_encrypted(plain: Path, target: Path, key: bytes) -> None:
    """Write ``target``, an encrypted copy of the plain database ``plain``."""
    connection = sqlcipher3.connect(str(plain))
    try:
        connection.execute("ATTACH DATABASE ? AS encrypted KEY ''", (str(target),))
        connection.execute(f"PRAGMA encrypted.key = \"x'{key.hex()}'\"")
        connection.execute("SELECT sqlcipher_export('encrypted')")
        connection.execute("DETACH DATABASE encrypted")
    finally:
        connection.close()
