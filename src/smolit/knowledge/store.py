"""``KnowledgeStore``: the document store, searched by keywords and by vectors.

Keyword search is BM25 over the FTS5 tables that triggers keep in step with the chunks
and documents (``fulltext``); dense search goes to each collection's FAISS index under
``indexes/`` beside the file, built and checked against the stored embeddings
(``vectors.FaissVectorStore``), and runs outside the connection's lock. ``hits`` turns
ranked chunk ids into search hits, with highlights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from smolit.knowledge.document_store import DocumentStore
from smolit.knowledge.fulltext import (
    HIGHLIGHT_TOKENS,
    MARK_CLOSE,
    MARK_OPEN,
    TITLE_WEIGHT,
    TermCounts,
    document_filter,
    fts_match,
    query_terms,
)
from smolit.knowledge.records import SearchHit
from smolit.knowledge.vectors import FaissVectorStore, VectorStore

#: the directory beside the database file that holds the vector indexes
INDEX_DIRECTORY = "indexes"


class KnowledgeStore(DocumentStore):
    """All knowledge of one installation in the SQLite file at ``path``, searchable."""

    def __init__(
        self, path: Path, *, key: bytes | None = None, files_key: bytes | None = None
    ) -> None:
        """``key`` encrypts the file (SQLCipher), ``files_key`` the vector indexes
        (AES-GCM); both come from the at-rest key (``security.atrest``)."""
        super().__init__(path, key)
        self._term_counts = TermCounts()
        self.vectors: VectorStore = FaissVectorStore(
            self, path.parent / INDEX_DIRECTORY, key=files_key
        )

    def close(self) -> None:
        """Close the file and the vector indexes. Closing twice is fine."""
        super().close()
        if hasattr(self, "vectors"):
            self.vectors.close()

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
