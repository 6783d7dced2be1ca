"""``KnowledgeStore``: documents, chunks, embeddings and a keyword index in one SQLite file.

The file runs in WAL mode. Chunk titles and texts are indexed by an FTS5 table kept in
step by triggers (``fulltext``); embeddings are float32 BLOBs, the truth from which each
collection's FAISS index under ``indexes/`` beside the file is built and checked
(``vectors.FaissVectorStore``). One connection serves all threads behind a lock; the
nearest-neighbour search runs outside it.
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
from smolit.knowledge.fulltext import (
    HIGHLIGHT_TOKENS,
    MARK_CLOSE,
    MARK_OPEN,
    TITLE_WEIGHT,
    TermCounts,
    document_filter,
    fts_match,
    query_terms,
    upgrade_fulltext,
)
from smolit.knowledge.records import DocumentRecord, SearchHit
from smolit.knowledge.sqlite_file import SqliteFile
from smolit.knowledge.vectors import FaissVectorStore, VectorStore, to_blobs
from smolit.storage import sqlcipher
from smolit.storage.private import private_file

#: the directory beside the database file that holds the vector indexes
INDEX_DIRECTORY = "indexes"
#: chunk ids per SQL statement when reading many rows by id
_ID_BATCH = 500

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
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    include TEXT NOT NULL DEFAULT '[]',
    exclude TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    sync_started TEXT,
    sync_finished TEXT,
    error TEXT,
    report TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS sources_location ON sources (collection, location);
CREATE TABLE IF NOT EXISTS source_items (
    source_id TEXT NOT NULL REFERENCES sources (id),
    item TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    checksum TEXT,
    etag TEXT,
    last_modified TEXT,
    PRIMARY KEY (source_id, item)
);
"""

#: columns added to existing tables since the first release: (table, column, definition)
_ADDED_COLUMNS = (
    ("documents", "source_id", "TEXT"),
    ("documents", "origin", "TEXT"),
)
_UPGRADE = "CREATE INDEX IF NOT EXISTS documents_source_id ON documents (source_id, origin);"

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


def upgrade_schema(db: sqlite3.Connection) -> None:
    """Bring a knowledge base of any earlier version up to this one, in place."""
    db.executescript(_SCHEMA)
    for table, column, definition in _ADDED_COLUMNS:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    db.executescript(_UPGRADE)
    upgrade_fulltext(db)


class KnowledgeStore(SqliteFile):
    """All knowledge of one installation in the SQLite file at ``path``."""

    def __init__(
        self, path: Path, *, key: bytes | None = None, files_key: bytes | None = None
    ) -> None:
        """``key`` encrypts the file (SQLCipher), ``files_key`` the vector indexes
        (AES-GCM); both come from the at-rest key (``security.atrest``)."""
        super().__init__(path, key)
        self._writes = 0  # commits on this connection, which PRAGMA data_version misses
        self._term_counts = TermCounts()
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
        self.vectors: VectorStore = FaissVectorStore(
            self, path.parent / INDEX_DIRECTORY, key=files_key
        )

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
        if hasattr(self, "vectors"):
            self.vectors.close()

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
        source_id: str | None = None,
        origin: str | None = None,
        text: str | None = None,
    ) -> tuple[DocumentRecord, bool]:
        """Store a document, replacing the one from the same source; True when it is new.

        ``text`` is the whole document, for the whole-document keyword index (default:
        the chunks joined).

        A replaced document keeps its id and creation time. A new one is refused with
        ``KnowledgeError`` when the store already holds ``max_documents`` documents.
        ``source_id`` and ``origin`` link it to the ``sources`` row and the item (file or
        URL) it came from; a replaced document keeps its link when they are None.
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

    # --- search ------------------------------------------------------------------------

    def keyword_search(
        self,
        collection: str,
        query: str,
        limit: int,
        filters: dict[str, str] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, score) by BM25 over titles and texts, best first; score = -bm25.

        ``filters`` keeps the chunks of matching documents only (``fulltext.document_filter``).
        """
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        condition, args = document_filter(filters)
        documents = "JOIN documents AS d ON d.id = c.document_id " if filters else ""
        with self._read() as db:
            version = self.version()
            match = fts_match(self._term_counts.informative(db, terms, version))
            if match is None:
                return []
            if not filters and self._term_counts.sole_collection(db, collection, version):
                rows = db.execute(  # nothing to join: the FTS table is this collection
                    "SELECT rowid, bm25(chunks_fts, ?, 1.0) AS rank FROM chunks_fts "
                    "WHERE chunks_fts MATCH ? ORDER BY rank, rowid LIMIT ?",
                    (TITLE_WEIGHT, match, limit),
                ).fetchall()
                return [(chunk_id, -rank) for chunk_id, rank in rows]
            # BM25 over the FTS table first, then the join, which SQLite would otherwise
            # start from the other side, probing the FTS table chunk by chunk
            rows = db.execute(
                "SELECT f.rowid, f.rank FROM ("
                "SELECT rowid, bm25(chunks_fts, ?, 1.0) AS rank FROM chunks_fts "
                "WHERE chunks_fts MATCH ?) AS f "
                f"JOIN chunks AS c ON c.id = f.rowid {documents}"
                f"WHERE c.collection = ? AND {condition} ORDER BY f.rank, f.rowid LIMIT ?",
                (TITLE_WEIGHT, match, collection, *args, limit),
            ).fetchall()
        return [(chunk_id, -rank) for chunk_id, rank in rows]

    def document_keyword_search(
        self,
        collection: str,
        query: str,
        limit: int,
        filters: dict[str, str] | None = None,
    ) -> list[tuple[str, float]]:
        """(document id, score) by BM25 over whole documents (title and text), best first;
        score = -bm25. ``filters`` as for ``keyword_search``."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        condition, args = document_filter(filters)
        with self._read() as db:
            match = fts_match(self._term_counts.informative(db, terms, self.version()))
            if match is None:
                return []
            rows = db.execute(
                "SELECT k.document_id, f.rank FROM ("
                "SELECT rowid, bm25(documents_fts, ?, 1.0) AS rank FROM documents_fts "
                "WHERE documents_fts MATCH ?) AS f "
                "JOIN document_keys AS k ON k.key = f.rowid "
                "JOIN documents AS d ON d.id = k.document_id "
                f"WHERE d.collection = ? AND {condition} ORDER BY f.rank, f.rowid LIMIT ?",
                (TITLE_WEIGHT, match, collection, *args, limit),
            ).fetchall()
        return [(document_id, -rank) for document_id, rank in rows]

    def first_chunks(self, document_ids: Sequence[str]) -> dict[str, int]:
        """The first chunk of each of the documents ``document_ids`` (unknown ones left out)."""
        rows = self._by_id(
            "SELECT document_id, id FROM chunks", document_ids, "document_id", "position = 0"
        )
        return dict(rows)

    def dense_search(
        self,
        collection: str,
        vector: torch.Tensor,
        limit: int,
        filters: dict[str, str] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the nearest chunks to a unit ``vector``, best first."""
        among = None if not filters else self.filtered_chunks(collection, filters)
        return self.vectors.search(collection, vector, limit, among)

    def filtered_chunks(self, collection: str, filters: dict[str, str]) -> set[int]:
        """The ids of the chunks of ``collection`` whose documents match ``filters``."""
        condition, args = document_filter(filters)
        with self._read() as db:
            rows = db.execute(
                "SELECT c.id FROM chunks AS c JOIN documents AS d ON d.id = c.document_id "
                f"WHERE c.collection = ? AND {condition}",
                (collection, *args),
            ).fetchall()
        return {chunk_id for (chunk_id,) in rows}

    def chunk_documents(self, ids: Sequence[int]) -> dict[int, str]:
        """The document id of each of the chunks ``ids`` (unknown ids are left out)."""
        return dict(self._by_id("SELECT id, document_id FROM chunks", ids))

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

    # --- hits ----------------------------------------------------------------------------

    def hits(self, scored: list[tuple[int, float]], query: str | None = None) -> list[SearchHit]:
        """Search hits for (chunk id, score) pairs, in the given order.

        With ``query``, each hit's highlights are the fragment of its text where the query's
        terms (or their stems) are densest, the terms marked; none when it has none of them.
        """
        if not scored:
            return []
        ids = [chunk_id for chunk_id, _ in scored]
        rows = self._by_id(
            "SELECT c.id, c.document_id, c.collection, d.title, d.source, c.text "
            "FROM chunks AS c JOIN documents AS d ON d.id = c.document_id",
            ids,
            column="c.id",
        )
        found = {row[0]: row for row in rows}
        marked = self._highlights(ids, query) if query else {}
        return [
            SearchHit(
                document_id=found[chunk_id][1],
                chunk_id=chunk_id,
                collection=found[chunk_id][2],
                title=found[chunk_id][3],
                source=found[chunk_id][4],
                text=found[chunk_id][5],
                score=score,
                highlights=marked.get(chunk_id, ()),
            )
            for chunk_id, score in scored
            if chunk_id in found
        ]

    def _highlights(self, ids: list[int], query: str) -> dict[int, tuple[str, ...]]:
        terms = query_terms(query)
        if not terms:
            return {}
        marks = ", ".join("?" for _ in ids)
        with self._read() as db:
            match = fts_match(self._term_counts.informative(db, terms, self.version()))
            if match is None:
                return {}
            rows = db.execute(
                "SELECT rowid, snippet(chunks_fts, 1, ?, ?, '…', ?) FROM chunks_fts "
                f"WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
                (MARK_OPEN, MARK_CLOSE, HIGHLIGHT_TOKENS, match, *ids),
            ).fetchall()
        return {chunk_id: (text,) for chunk_id, text in rows if MARK_OPEN in text}


def _key(value: int | str) -> int | str:
    """An id as SQLite takes it: numpy integers become ints, text stays text."""
    return value if isinstance(value, str) else int(value)


def _now() -> str:
    return datetime.now(UTC).isoformat()
