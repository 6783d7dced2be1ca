"""Engine, sessions and migrations for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from smolit.errors import StorageError
from smolit.redact import redact_url
from smolit.storage import sqlcipher
from smolit.storage.group_commit import GroupCommitter, WriteJob
from smolit.storage.private import private_file

T = TypeVar("T")

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def affected(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (``CursorResult.rowcount``, typed)."""
    count = result.rowcount if isinstance(result, CursorResult) else -1
    return int(count)


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _normalise(url: str) -> str:
    # plain postgresql:// means psycopg 3 here; psycopg2 is not a dependency
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_file(parsed: URL, key: bytes | None) -> dict[str, Any]:
    """Engine options for a SQLite file: created 0600, opened through ``sqlcipher``
    (encrypted with ``key`` when there is one)."""
    if not parsed.database or parsed.database == ":memory:" or parsed.query:
        if key is not None:
            raise StorageError("encryption at rest needs a SQLite file database")
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    path = Path(parsed.database)

    def connect() -> Any:
        private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
        return sqlcipher.connect(path, key, check_same_thread=False, timeout=30)

    options: dict[str, Any] = {"creator": connect}
    if key is not None:
        options["module"] = sqlcipher.sqlcipher3
    return options


def create_database_engine(url: str, key: bytes | None = None) -> Engine:
    """An engine for ``url``; ``key`` encrypts a SQLite file (SQLCipher)."""
    url = _normalise(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL {redact_url(url)!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        # connections to a SQLite file are cheap: enough that no thread waits for one
        # (writers still take turns on the file's lock)
        engine = create_engine(url, pool_size=32, max_overflow=64, **_sqlite_file(parsed, key))
        event.listen(engine, "connect", _enable_sqlite_wal)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise StorageError(
            f"unsupported database {redact_url(url)}: use sqlite:/// or postgresql://",
            details={"url": redact_url(url)},
        )
    # PostgreSQL: the server's disk encryption (or TDE) protects it at rest, not ``key``
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Owns the engine; hands out sessions; applies migrations."""

    def __init__(self, url: str, *, key: bytes | None = None) -> None:
        """``key``: the SQLCipher key of a SQLite database (encryption at rest)."""
        self.url = _normalise(url)
        self.engine = create_database_engine(self.url, key)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time; left to its busy handler, waiting writers sleep
        # in growing steps (up to 100 ms each), which gives long latency tails under load.
        # Within this process they take turns on a lock instead; other processes still
        # meet the busy timeout.
        self._turns: threading.RLock | None = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else None
        )
        #: SQLite: concurrent writes (``write``, ``write_sync``) share transactions on one thread
        self._committer: GroupCommitter | None = (
            GroupCommitter(self._sessions, self._turn) if self._turns is not None else None
        )
        #: how deep the current thread is in ``session`` (it holds the write turn)
        self._depth = threading.local()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest migration; fails with the URL when unreachable."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot open database {redact_url(self.url)}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0]}",
                details={"url": redact_url(self.url)},
            ) from exc

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def _turn(self) -> AbstractContextManager[Any]:
        return self._turns if self._turns is not None else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._turn():
            self._depth.value = getattr(self._depth, "value", 0) + 1
            session = self._sessions()
            try:
                yield session
                session.commit()
            except Exception:
                session.rollback()
                raise
            finally:
                session.close()
                self._depth.value -= 1

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only: it takes no write turn (SQLite in WAL mode reads
        beside its writer) and commits nothing."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    def write_sync(self, job: WriteJob[T]) -> T:
        """Run ``job`` in a transaction and return its result once committed (blocking).

        SQLite: concurrent writes share one transaction (``GroupCommitter``); elsewhere
        each job has a session of its own, as has a job from a thread inside ``session``
        (which holds the write turn the write thread would wait for).
        """
        if self._committer is None or getattr(self._depth, "value", 0) > 0:
            with self.session() as session:
                return job(session)
        return self._committer.run(job)

    async def write(self, job: WriteJob[T]) -> T:
        """``write_sync`` for the event loop: SQLite's write thread answers without another
        thread waiting on it."""
        if self._committer is None:
            return await asyncio.to_thread(self.write_sync, job)
        return await asyncio.wrap_future(self._committer.submit(job))

    def dispose(self) -> None:
        if self._committer is not None:
            self._committer.close()
        self.engine.dispose()
