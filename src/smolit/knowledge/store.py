"""``KnowledgeStore``: documents, chunks, embeddings and a keyword index in one SQLite file.

The file runs in WAL mode. Chunk text is indexed by an FTS5 table (porter stemming) kept
in step with the ``chunks`` table by triggers; embeddings are float32 BLOBs, and each
collection's embeddings are cached in memory as one tensor for exact cosine search, dropped
whenever the collection is written (``vectors.ExactIndex``). One connection serves all
threads behind a lock; the dense matrix product runs outside it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from smolit.errors import KnowledgeError, ValidationError
from smolit.knowledge.records import DocumentRecord, SearchHit
from smolit.knowledge.vectors import ExactIndex, to_blobs

#: at most this many distinct terms of a query go to the keyword index
MAX_QUERY_TERMS = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_source ON documents (collection, source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents (id),
    collection TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_collection ON chunks (collection, id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    text, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""

_DOCUMENT_COLUMNS = (
    "d.id, d.collection, d.title, d.source, d.checksum, d.created_at, d.metadata, "
    "(SELECT COUNT(*) FROM chunks AS c WHERE c.document_id = d.id)"
)


def fts_query(text: str) -> str | None:
    """Turn free text into an FTS5 query of quoted terms OR-ed together.

    Quoting makes every FTS5 operator (``"``, ``*``, ``NEAR``, ``AND``, ``-``, brackets)
    a plain word, so no user query is an FTS5 syntax error. None when there are no terms.
    """
    terms = list(dict.fromkeys(term.lower() for term in re.findall(r"\w+", text)))
    return " OR ".join(f'"{term}"' for term in terms[:MAX_QUERY_TERMS]) or None


def _record(row: tuple[Any, ...]) -> DocumentRecord:
    doc_id, collection, title, source, checksum, created_at, metadata, chunks = row
    return DocumentRecord(
        id=doc_id,
        collection=collection,
        title=title,
        source=source,
        checksum=checksum,
        chunks=chunks,
        created=datetime.fromisoformat(created_at),
        metadata=json.loads(metadata),
    )


class KnowledgeStore:
    """All knowledge of one installation in the SQLite file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._indexes: dict[str, ExactIndex] = {}
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise KnowledgeError(
                f"cannot open the knowledge base {path}: {exc}", details={"path": str(path)}
            ) from exc

    # --- connection handling -------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise KnowledgeError(f"the knowledge base {self.path} is closed")
        return self._db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.Error as exc:
                raise KnowledgeError(f"knowledge base {self.path}: {exc}") from exc

    @contextmanager
    def _write(self, collection: str | None = None) -> Iterator[sqlite3.Connection]:
        """One transaction; the cached embeddings of ``collection`` (None: all) are dropped."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise KnowledgeError(f"knowledge base {self.path}: {exc}") from exc
                raise
            finally:
                if collection is None:
                    self._indexes.clear()
                else:
                    self._indexes.pop(collection, None)

    def close(self) -> None:
        """Close the file; further calls raise ``KnowledgeError``. Closing twice is fine."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._indexes.clear()

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
        *,
        collection: str,
        title: str,
        source: str,
        checksum: str,
        metadata: dict[str, Any],
        chunks: list[str],
        embeddings: torch.Tensor,
        max_documents: int | None = None,
    ) -> tuple[DocumentRecord, bool]:
        """Store a document, replacing the one from the same source; True when it is new.

        A replaced document keeps its id and creation time. A new one is refused with
        ``KnowledgeError`` when the store already holds ``max_documents`` documents.
        """
        if embeddings.ndim != 2 or embeddings.shape[0] != len(chunks):
            raise ValidationError(
                f"need one embedding row per chunk, got shape {tuple(embeddings.shape)} "
                f"for {len(chunks)} chunks"
            )
        try:
            metadata_json = json.dumps(metadata, sort_keys=True)
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
                    "created_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, collection, title, source, checksum, _now(), metadata_json),
                )
            else:
                doc_id = row[0]
                db.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                db.execute(
                    "UPDATE documents SET title = ?, checksum = ?, metadata = ? WHERE id = ?",
                    (title, checksum, metadata_json, doc_id),
                )
            db.executemany(
                "INSERT INTO chunks (document_id, collection, position, text, embedding) "
                "VALUES (?, ?, ?, ?, ?)",
                [(doc_id, collection, i, text, blobs[i]) for i, text in enumerate(chunks)],
            )
            saved = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents AS d WHERE d.id = ?", (doc_id,)
            ).fetchone()
        return _record(saved), row is None

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
            raise KnowledgeError(
                f"the knowledge base is full ({count} of {max_documents} documents); "
                "raise knowledge.max_documents in the configuration or remove documents",
                details={"documents": count, "max_documents": max_documents},
            )

    def remove_document(self, document_id: str) -> bool:
        """Delete a document and its chunks; False when there was no such document."""
        with self._write() as db:
            db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            cursor = db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            return cursor.rowcount > 0

    def collections(self) -> list[str]:
        with self._read() as db:
            rows = db.execute("SELECT DISTINCT collection FROM documents ORDER BY 1").fetchall()
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

    # --- search ------------------------------------------------------------------------

    def keyword_search(self, collection: str, query: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, score) by BM25, best first; the score is -bm25, higher is better."""
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        with self._read() as db:
            rows = db.execute(
                "SELECT c.id, bm25(chunks_fts) AS rank FROM chunks_fts "
                "JOIN chunks AS c ON c.id = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND c.collection = ? ORDER BY rank, c.id LIMIT ?",
                (match, collection, limit),
            ).fetchall()
        return [(chunk_id, -rank) for chunk_id, rank in rows]

    def dense_search(
        self, collection: str, vector: torch.Tensor, limit: int
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) by exact search over unit vectors, best first."""
        return self._index(collection).search(vector, limit, collection)

    def _index(self, collection: str) -> ExactIndex:
        """The embeddings of ``collection``, from the cache or else the file."""
        with self._read() as db:
            index = self._indexes.get(collection)
            if index is None:
                rows = db.execute(
                    "SELECT id, embedding FROM chunks WHERE collection = ? ORDER BY id",
                    (collection,),
                ).fetchall()
                index = self._indexes[collection] = ExactIndex.from_rows(rows, collection)
            return index

    def hits(self, scored: list[tuple[int, float]]) -> list[SearchHit]:
        """Search hits for (chunk id, score) pairs, in the given order."""
        if not scored:
            return []
        marks = ", ".join("?" for _ in scored)
        with self._read() as db:
            rows = db.execute(
                "SELECT c.id, c.document_id, c.collection, d.title, d.source, c.text "
                "FROM chunks AS c JOIN documents AS d ON d.id = c.document_id "
                f"WHERE c.id IN ({marks})",
                [chunk_id for chunk_id, _ in scored],
            ).fetchall()
        found = {row[0]: row for row in rows}
        return [
            SearchHit(
                document_id=found[chunk_id][1],
                chunk_id=chunk_id,
                collection=found[chunk_id][2],
                title=found[chunk_id][3],
                source=found[chunk_id][4],
                text=found[chunk_id][5],
                score=score,
            )
            for chunk_id, score in scored
            if chunk_id in found
        ]


def _now() -> str:
    return datetime.now(UTC).isoformat()
