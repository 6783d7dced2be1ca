"""``DocumentStore``: documents, their chunks and embeddings, in one SQLite file.

The file runs in WAL mode; one connection serves all threads behind a lock
(``SqliteFile``). A document's chunks and embeddings (float32 BLOBs) are written in the
same transaction as the document, and its whole text goes into the document keyword index
(``fulltext``). The chunk reads at the end are what a vector index builds itself from
(``vectors.ChunkSource``).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from smolit.errors import KnowledgeFullError, ValidationError
from smolit.knowledge.records import DocumentRecord, PreparedDocument
from smolit.knowledge.schema import upgrade_schema
from smolit.knowledge.sqlite_file import SqliteFile
from smolit.knowledge.vectors import to_blobs
from smolit.storage import sqlcipher
from smolit.storage.private import private_file

#: chunk ids per SQL statement when reading many rows by id
_ID_BATCH = 500

_DOCUMENT_COLUMNS = (
    "d.id, d.collection, d.title, d.source, d.checksum, d.created_at, d.metadata, "
    "(SELECT COUNT(*) FROM chunks AS c WHERE c.document_id = d.id), d.source_id"
)


def _record(row: tuple[Any, ...]) -> DocumentRecord:
    doc_id, collection, title, source, checksum, created_at, metadata, chunks, source_id = row
    return DocumentRecord(
        id=doc_id,
        collection=collection,
        title=title,
        source=source,
        checksum=checksum,
        chunks=chunks,
        created=datetime.fromisoformat(created_at),
        metadata=json.loads(metadata),
        source_id=source_id,
    )


class DocumentStore(SqliteFile):
    """The documents of one installation in the SQLite file at ``path``."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        """``key`` encrypts the file (SQLCipher), from the at-rest key (``security.atrest``)."""
        super().__init__(path, key)
        self._writes = 0  # commits on this connection, which PRAGMA data_version misses
        try:
            private_file(path)  # SQLite gives its -wal and -shm files this file's mode
            db = self._open()
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            upgrade_schema(db)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)",
                (uuid.uuid4().hex,),
            )
            (self._identity,) = db.execute(
                "SELECT value FROM meta WHERE key = 'store_id'"
            ).fetchone()
        except sqlcipher.OPEN_ERRORS as exc:
            raise self._cannot_open(exc) from exc

    # --- connection handling -------------------------------------------------------------

    @contextmanager
    def _write(self, collection: str | None = None) -> Iterator[sqlite3.Connection]:
        """One transaction; vector indexes check themselves against the file after it."""
        with self._lock:
            try:
                with self._transaction() as db:
                    yield db
            finally:
                self._writes += 1

    def close(self) -> None:
        """Close the file; further calls raise ``KnowledgeError``. Closing twice is fine."""
        self._close_connection()

    # --- documents -------------------------------------------------------------------------

    def get_document(self, document_id: str) -> DocumentRecord | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE d.id = ?", (document_id,)
            ).fetchone()
        return _record(row) if row else None

    def find_document(self, collection: str, source: str) -> DocumentRecord | None:
        """The document of ``collection`` that came from ``source``, if any."""
        with self._read() as db:
            row = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d "
                "WHERE d.collection = ? AND d.source = ?",
                (collection, source),
            ).fetchone()
        return _record(row) if row else None

    def save_document(
        self,
        document: PreparedDocument,
        embeddings: torch.Tensor,
        max_documents: int | None = None,
    ) -> tuple[DocumentRecord, bool]:
        """Store ``document``, replacing the one from the same source; True when it is new.

        A replaced document keeps its id and creation time, and its link to a source
        when ``document`` names none. A new one is refused with ``KnowledgeFullError``
        when the store already holds ``max_documents`` documents.
        """
        collection, title, source = document.collection, document.title, document.source
        checksum, chunks, text = document.checksum, document.chunks, document.text
        source_id, origin = document.source_id, document.origin
        if embeddings.ndim != 2 or embeddings.shape[0] != len(chunks):
            raise ValidationError(
                f"need one embedding row per chunk, got shape {tuple(embeddings.shape)} "
                f"for {len(chunks)} chunks"
            )
        try:
            metadata_json = json.dumps(document.metadata, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"metadata must be JSON-serialisable: {exc}") from exc
        blobs = to_blobs(embeddings)
        with self._write(collection) as db:
            row = db.execute(
                "SELECT id FROM documents WHERE collection = ? AND source = ?",
                (collection, source),
            ).fetchone()
            if row is None:
                self._check_limit(db, max_documents)
                doc_id = uuid.uuid4().hex
                db.execute(
                    "INSERT INTO documents (id, collection, title, source, checksum, "
                    "created_at, metadata, source_id, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc_id,
                        collection,
                        title,
                        source,
                        checksum,
                        _now(),
                        metadata_json,
                        source_id,
                        origin,
                    ),
                )
            else:
                doc_id = row[0]
                db.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                db.execute(
                    "UPDATE documents SET title = ?, checksum = ?, metadata = ?, "
                    "source_id = COALESCE(?, source_id), origin = COALESCE(?, origin) "
                    "WHERE id = ?",
                    (title, checksum, metadata_json, source_id, origin, doc_id),
                )
            db.executemany(
                "INSERT INTO chunks (document_id, collection, position, text, embedding) "
                "VALUES (?, ?, ?, ?, ?)",
                [(doc_id, collection, i, chunk, blobs[i]) for i, chunk in enumerate(chunks)],
            )
            self._index_document(db, doc_id, title, " ".join(chunks) if text is None else text)
            saved = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE d.id = ?", (doc_id,)
            ).fetchone()
        return _record(saved), row is None

    @staticmethod
    def _index_document(db: sqlite3.Connection, doc_id: str, title: str, text: str) -> None:
        """Put the document's title and whole text in ``documents_fts`` (replacing)."""
        db.execute("INSERT OR IGNORE INTO document_keys (document_id) VALUES (?)", (doc_id,))
        (key,) = db.execute(
            "SELECT key FROM document_keys WHERE document_id = ?", (doc_id,)
        ).fetchone()
        db.execute("DELETE FROM documents_fts WHERE rowid = ?", (key,))
        db.execute(
            "INSERT INTO documents_fts (rowid, title, text) VALUES (?, ?, ?)", (key, title, text)
        )

    def check_capacity(self, max_documents: int) -> None:
        """Raise ``KnowledgeError`` when ``max_documents`` documents are already stored."""
        with self._read() as db:
            self._check_limit(db, max_documents)

    @staticmethod
    def _check_limit(db: sqlite3.Connection, max_documents: int | None) -> None:
        if max_documents is None:
            return
        (count,) = db.execute("SELECT COUNT(*) FROM documents").fetchone()
        if count >= max_documents:
            raise KnowledgeFullError(
                f"the knowledge base is full ({count} of {max_documents} documents): raise "
                "knowledge.max_documents in the configuration file (or set the environment "
                "variable SMOLIT_KNOWLEDGE__MAX_DOCUMENTS) and restart, or remove documents",
                details={"documents": count, "max_documents": max_documents},
            )

    def remove_document(self, document_id: str) -> bool:
        """Delete a document and its chunks; False when there was no such document."""
        with self._write() as db:
            db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            cursor = db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            return cursor.rowcount > 0

    def list_documents(
        self,
        collection: str,
        source_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DocumentRecord]:
        """The documents of ``collection`` (of one source), oldest first."""
        where, args = "d.collection = ?", [collection]
        if source_id is not None:
            where, args = f"{where} AND d.source_id = ?", [*args, source_id]
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE {where} "
                "ORDER BY d.created_at, d.id LIMIT ? OFFSET ?",
                (*args, -1 if limit is None else limit, offset),
            ).fetchall()
        return [_record(row) for row in rows]

    def source_documents(self, source_id: str) -> dict[str, dict[str, str]]:
        """The documents synced from a source: origin (its file or URL) -> source -> id."""
        with self._read() as db:
            rows = db.execute(
                "SELECT origin, source, id FROM documents WHERE source_id = ?", (source_id,)
            ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for origin, source, doc_id in rows:
            found.setdefault(origin or "", {})[source] = doc_id
        return found

    def collections(self) -> list[str]:
        """Collections with documents or sources."""
        with self._read() as db:
            rows = db.execute(
                "SELECT collection FROM documents UNION SELECT collection FROM sources ORDER BY 1"
            ).fetchall()
        return [name for (name,) in rows]

    def has_chunks(self, collection: str) -> bool:
        with self._read() as db:
            row = db.execute(
                "SELECT 1 FROM chunks WHERE collection = ? LIMIT 1", (collection,)
            ).fetchone()
        return row is not None

    def counts(self, collection: str | None = None) -> tuple[int, int]:
        """(documents, chunks) in ``collection``, or in all collections for None."""
        where, args = ("WHERE collection = ?", (collection,)) if collection else ("", ())
        with self._read() as db:
            (documents,) = db.execute(f"SELECT COUNT(*) FROM documents {where}", args).fetchone()
            (chunks,) = db.execute(f"SELECT COUNT(*) FROM chunks {where}", args).fetchone()
        return documents, chunks

    def get_meta(self, key: str) -> str | None:
        with self._read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- what the vector store reads (``vectors.ChunkSource``) --------------------------

    def identity(self) -> str:
        return str(self._identity)

    def version(self) -> tuple[int, ...]:
        """(commits on this connection, SQLite's count of other connections' commits)."""
        with self._read() as db:
            (data_version,) = db.execute("PRAGMA data_version").fetchone()
        return self._writes, int(data_version)

    def chunk_ids(self, collection: str) -> list[int]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id FROM chunks WHERE collection = ? ORDER BY id", (collection,)
            ).fetchall()
        return [chunk_id for (chunk_id,) in rows]

    def embeddings(self, ids: Sequence[int]) -> list[tuple[int, bytes]]:
        return sorted(self._by_id("SELECT id, embedding FROM chunks", ids))

    def _by_id(
        self,
        select: str,
        ids: Sequence[int] | Sequence[str],
        column: str = "id",
        condition: str = "1",
    ) -> list[tuple[Any, ...]]:
        """Rows of ``select WHERE condition AND column IN ids``, in batches SQLite accepts."""
        rows: list[tuple[Any, ...]] = []
        with self._read() as db:
            for start in range(0, len(ids), _ID_BATCH):
                batch = [_key(i) for i in ids[start : start + _ID_BATCH]]
                marks = ", ".join("?" for _ in batch)
                statement = f"{select} WHERE {condition} AND {column} IN ({marks})"
                rows += db.execute(statement, batch).fetchall()
        return rows


def _key(value: int | str) -> int | str:
    """An id as SQLite takes it: numpy integers become ints, text stays text."""
    return value if isinstance(value, str) else int(value)


def _now() -> str:
    return datetime.now(UTC).isoformat()
