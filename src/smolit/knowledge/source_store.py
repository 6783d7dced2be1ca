"""``SourceStore``: the ``sources`` and ``source_items`` tables of the knowledge base file.

It has its own connection to the file that ``KnowledgeStore`` opens (WAL lets them share
it), so that writing sync state never drops the cached embeddings of a collection.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from smolit.errors import ConflictError
from smolit.knowledge.records import SourceItem, SourceKind, SourceRecord, SyncStatus
from smolit.knowledge.schema import upgrade_schema
from smolit.knowledge.sqlite_file import SqliteFile
from smolit.storage import sqlcipher

#: a sync report keeps at most this many per-document errors
MAX_REPORTED_ERRORS = 100

_COLUMNS = (
    "s.id, s.collection, s.kind, s.location, s.include, s.exclude, s.created_at, s.status, "
    "s.sync_started, s.sync_finished, s.error, s.report, "
    "(SELECT COUNT(*) FROM documents AS d WHERE d.source_id = s.id)"
)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _source(row: tuple[Any, ...]) -> SourceRecord:
    (sid, collection, kind, location, include, exclude, created, status) = row[:8]
    started, finished, error, report, documents = row[8:]
    return SourceRecord(
        id=sid,
        collection=collection,
        kind=cast(SourceKind, kind),
        location=location,
        include=tuple(json.loads(include)),
        exclude=tuple(json.loads(exclude)),
        created=datetime.fromisoformat(created),
        status=cast(SyncStatus, status),
        sync_started=_time(started),
        sync_finished=_time(finished),
        error=error,
        last_report=json.loads(report),
        documents=documents,
    )


class SourceStore(SqliteFile):
    """Sources of collections and what their last sync saw, in the SQLite file ``path``."""

    integrity_error = ConflictError  # e.g. the same source added twice

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        super().__init__(path, key)
        try:
            upgrade_schema(self._open())
        except sqlcipher.ERRORS as exc:
            raise self._cannot_open(exc) from exc

    def close(self) -> None:
        self._close_connection()

    # --- sources ---------------------------------------------------------------------------

    def add(
        self,
        collection: str,
        kind: SourceKind,
        location: str,
        include: tuple[str, ...],
        exclude: tuple[str, ...],
    ) -> SourceRecord:
        """A new source; ``ConflictError`` when ``collection`` has one at ``location``."""
        source_id = uuid.uuid4().hex[:12]
        with self._transaction() as db:
            taken = db.execute(
                "SELECT id FROM sources WHERE collection = ? AND location = ?",
                (collection, location),
            ).fetchone()
            if taken is not None:
                raise ConflictError(
                    f"collection {collection!r} already has source {taken[0]} for {location}",
                    details={"id": taken[0], "location": location},
                )
            db.execute(
                "INSERT INTO sources (id, collection, kind, location, include, exclude, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    source_id,
                    collection,
                    kind,
                    location,
                    json.dumps(list(include)),
                    json.dumps(list(exclude)),
                    _now(),
                ),
            )
        added = self.get(source_id)
        assert added is not None  # inserted above
        return added

    def get(self, source_id: str) -> SourceRecord | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sources AS s WHERE s.id = ?", (source_id,)
            ).fetchone()
        return _source(row) if row else None

    def sources(self, collection: str | None = None) -> list[SourceRecord]:
        where, args = ("WHERE s.collection = ?", (collection,)) if collection else ("", ())
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sources AS s {where} ORDER BY s.created_at, s.id", args
            ).fetchall()
        return [_source(row) for row in rows]

    def delete(self, source_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM source_items WHERE source_id = ?", (source_id,))
            db.execute("DELETE FROM sources WHERE id = ?", (source_id,))

    # --- sync state --------------------------------------------------------------------------

    def mark_started(self, source_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE sources SET status = 'running', sync_started = ? WHERE id = ?",
                (_now(), source_id),
            )

    def mark_finished(
        self, source_id: str, status: SyncStatus, error: str | None, report: dict[str, Any]
    ) -> None:
        report = {**report, "errors": report.get("errors", [])[:MAX_REPORTED_ERRORS]}
        with self._transaction() as db:
            db.execute(
                "UPDATE sources SET status = ?, sync_finished = ?, error = ?, report = ? "
                "WHERE id = ?",
                (status, _now(), error, json.dumps(report), source_id),
            )

    def fail_interrupted(self) -> int:
        """Mark syncs left ``running`` by a stopped process as failed; how many there were."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE sources SET status = 'error', sync_finished = ?, "
                "error = 'interrupted: the server stopped during the sync' "
                "WHERE status = 'running'",
                (_now(),),
            )
            return cursor.rowcount

    def items(self, source_id: str) -> dict[str, SourceItem]:
        with self._read() as db:
            rows = db.execute(
                "SELECT item, checksum, size, mtime_ns, etag, last_modified FROM source_items "
                "WHERE source_id = ?",
                (source_id,),
            ).fetchall()
        return {row[0]: SourceItem(*row) for row in rows}

    def save_item(self, source_id: str, item: SourceItem) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO source_items (source_id, item, checksum, size, "
                "mtime_ns, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    source_id,
                    item.item,
                    item.checksum,
                    item.size,
                    item.mtime_ns,
                    item.etag,
                    item.last_modified,
                ),
            )

    def delete_item(self, source_id: str, item: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM source_items WHERE source_id = ? AND item = ?", (source_id, item)
            )


def _now() -> str:
    return datetime.now(UTC).isoformat()
