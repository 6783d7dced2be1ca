"""``SqliteFile``: one SQLite connection to the knowledge file, shared by every thread.

With a key the file is encrypted (SQLCipher, ``storage.sqlcipher``). Calls take turns
on a lock; ``_read`` and ``_transaction`` turn SQLite errors into ``KnowledgeError``
naming the file (integrity errors, such as a duplicate, into ``integrity_error``).
Closing twice is fine; a call after closing is a ``KnowledgeError``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smolit.errors import KnowledgeError, SmolitError
from smolit.storage import sqlcipher


class SqliteFile:
    #: what a broken constraint (a duplicate) becomes
    integrity_error: type[SmolitError] = KnowledgeError

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        """``key``: the SQLCipher key of the file (encryption at rest)."""
        self.path = path
        self._key = key
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        """Connect (autocommit: transactions are explicit) and wait up to 5 s for a lock."""
        self._db = sqlcipher.connect(
            self.path, self._key, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA busy_timeout = 5000")
        return self._db

    def _cannot_open(self, exc: Exception) -> KnowledgeError:
        self._close_connection()
        return KnowledgeError(
            f"cannot open the knowledge base {self.path}: {exc}", details={"path": str(self.path)}
        )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise KnowledgeError(f"the knowledge base {self.path} is closed")
        return self._db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlcipher.ERRORS as exc:
                raise KnowledgeError(f"knowledge base {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed, or rolled back on any error."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlcipher.INTEGRITY_ERRORS):
                    raise self.integrity_error(f"knowledge base {self.path}: {exc}") from exc
                if isinstance(exc, sqlcipher.ERRORS):
                    raise KnowledgeError(f"knowledge base {self.path}: {exc}") from exc
                raise

    def _close_connection(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
