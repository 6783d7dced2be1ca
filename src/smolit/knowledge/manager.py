"""``KnowledgeManager``: the knowledge base's one door: ingest, sources, search.

Documents come in directly (``add_document``, ``ingest_path``, ``add_upload``; see
``knowledge.ingest``) or from a collection's sources (files, directories, URLs;
``add_source``, ``sync_source``; see ``knowledge.source_manager``), which
``knowledge.sync`` keeps in step with their origin.

Search comes in three modes: ``keyword`` (BM25 over an FTS5 index), ``semantic`` (cosine
over chunk embeddings, FAISS) and ``hybrid`` (the two fused), over chunks (``search``) or
documents (``search_documents``); see ``knowledge.search``. The encoder is built on
first use, so a manager that only lists or counts never loads a model.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smolit.config import KnowledgeSettings
from smolit.encoding.base import TextEncoder
from smolit.errors import ConfigError, NotFoundError, SmolitError, ValidationError
from smolit.knowledge.encoding import StoreEncoder
from smolit.knowledge.ingest import AddResult, Ingester, check_collection
from smolit.knowledge.records import (
    SEARCH_MODES,
    DocumentRecord,
    IngestReport,
    NewDocument,
    SearchHit,
    SearchMode,
    SourceRecord,
)
from smolit.knowledge.search import Filters, Searcher
from smolit.knowledge.source_manager import SourceManager
from smolit.knowledge.source_store import SourceStore
from smolit.knowledge.store import KnowledgeStore
from smolit.knowledge.sync import SyncLimits
from smolit.security.atrest import AtRestKeys
from smolit.security.egress import EgressPolicy

DATABASE_FILE = "knowledge.db"


class KnowledgeManager:
    """The knowledge bases of all agents, one collection each, in ``directory``."""

    def __init__(
        self,
        settings: KnowledgeSettings,
        directory: Path,
        encoder_provider: Callable[[], TextEncoder],
        *,
        allowed_roots: Sequence[Path] = (),
        uploads_dir: Path | None = None,
        egress: EgressPolicy | None = None,
        keys: AtRestKeys | None = None,
    ) -> None:
        """``allowed_roots`` are the directories file and directory sources may lie under;
        uploads are kept in ``uploads_dir`` (default ``directory/uploads``), one
        directory per collection; URL sources are fetched through ``egress`` (default: a
        policy that allows public addresses only). ``keys`` encrypt the knowledge base,
        its vector indexes and the uploads at rest."""
        if settings.chunk_overlap >= settings.chunk_words:
            raise ConfigError(
                f"knowledge.chunk_overlap ({settings.chunk_overlap}) must be less than "
                f"knowledge.chunk_words ({settings.chunk_words})",
                details={"key": "knowledge.chunk_overlap"},
            )
        self.settings = settings
        self.directory = directory
        database_key = keys.database if keys else None
        self._store = KnowledgeStore(
            directory / DATABASE_FILE, key=database_key, files_key=keys.files if keys else None
        )
        encoder = StoreEncoder(self._store, encoder_provider)
        self._searcher = Searcher(self._store, lambda query: encoder.encode([query])[0])
        self.uploads_dir = uploads_dir or directory / "uploads"
        self._ingester = Ingester(
            settings, self._store, encoder, self.uploads_dir, keys.files if keys else None
        )
        self.allowed_roots = tuple(Path(os.path.realpath(root)) for root in allowed_roots)
        self.egress = egress or EgressPolicy()
        self._sources = SourceStore(self._store.path, database_key)
        limits = SyncLimits(
            self.allowed_roots, self._ingester.max_file_bytes, settings.fetch_timeout, self.egress
        )
        self._source_manager = SourceManager(
            self._store, self._sources, self._ingester.add_documents, limits
        )

    # --- documents (``knowledge.ingest``) ---------------------------------------------

    def add_document(
        self,
        collection: str,
        title: str,
        text: str,
        source: str,
        metadata: dict[str, Any] | None = None,
    ) -> DocumentRecord:
        """Store ``text`` in ``collection``, chunked and embedded.

        A document is known by its source within a collection: the same source with the
        same text is left unchanged (and returned), with new text it is replaced.
        """
        (result,) = self.add_documents(
            collection, [NewDocument(title, text, source, metadata or {})]
        )
        if isinstance(result, SmolitError):
            raise result
        return result[0]

    def add_documents(
        self,
        collection: str,
        documents: Sequence[NewDocument],
        *,
        source_id: str | None = None,
        origin: str | None = None,
    ) -> list[AddResult]:
        """Store ``documents`` as ``add_document`` does, one result (or error) per document."""
        return self._ingester.add_documents(
            collection, documents, source_id=source_id, origin=origin
        )

    def ingest_path(self, collection: str, path: Path, root: Path | None = None) -> IngestReport:
        """Ingest a file, or every supported file below a directory (``Ingester``)."""
        return self._ingester.ingest_path(collection, path, root)

    def add_upload(
        self, collection: str, filename: str, data: bytes
    ) -> tuple[list[DocumentRecord], IngestReport]:
        """Keep an uploaded file and ingest it (``Ingester.add_upload``)."""
        return self._ingester.add_upload(collection, filename, data)

    def upload(self, collection: str, filename: str) -> bytes:
        """The original of an upload, as it was sent (decrypted when sealed at rest)."""
        return self._ingester.upload(collection, filename)

    def get_document(self, document_id: str) -> DocumentRecord:
        record = self._store.get_document(document_id)
        if record is None:
            raise NotFoundError(f"no document {document_id!r}", details={"id": document_id})
        return record

    def remove_document(self, document_id: str) -> None:
        if not self._store.remove_document(document_id):
            raise NotFoundError(f"no document {document_id!r}", details={"id": document_id})

    def list_documents(
        self,
        collection: str,
        source_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DocumentRecord]:
        """The documents of ``collection`` (only those of one source), oldest first."""
        check_collection(collection)
        if (limit is not None and limit < 0) or offset < 0:
            raise ValidationError("limit and offset must not be negative")
        return self._store.list_documents(collection, source_id, limit, offset)

    def collections(self) -> list[str]:
        return self._store.collections()

    def stats(self, collection: str | None = None) -> dict[str, int]:
        """Counts of documents and chunks in ``collection``, or in all of them."""
        documents, chunks = self._store.counts(collection)
        return {"documents": documents, "chunks": chunks}

    # --- sources (``knowledge.source_manager``) -----------------------------------------

    def add_source(
        self,
        collection: str,
        location: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> SourceRecord:
        """Register a file, directory or http(s) URL as a source (not synced yet)."""
        return self._source_manager.add(collection, location, include, exclude)

    def sources(self, collection: str | None = None) -> list[SourceRecord]:
        return self._source_manager.sources(collection)

    def get_source(self, source_id: str, collection: str | None = None) -> SourceRecord:
        return self._source_manager.get(source_id, collection)

    def remove_source(self, source_id: str, collection: str | None = None) -> int:
        """Forget a source and remove its documents; how many documents were removed."""
        return self._source_manager.remove(source_id, collection)

    def sync_source(
        self, source_id: str, collection: str | None = None
    ) -> tuple[SourceRecord, IngestReport]:
        """Sync one source now; its record (with status) and what the sync did."""
        return self._source_manager.sync(source_id, collection)

    def sync_all(self, collection: str | None = None) -> list[tuple[SourceRecord, IngestReport]]:
        """Sync every source (of ``collection``), one after the other."""
        return self._source_manager.sync_all(collection)

    # --- search (``knowledge.search``) --------------------------------------------------

    def search_sync(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
        filters: Filters = None,
    ) -> list[SearchHit]:
        """The ``top_k`` chunks of ``collection`` that best match ``query``, best first.

        ``filters`` keeps documents whose ``source``, ``title`` or metadata key equals the
        given value (all must match); ``source_prefix`` matches the start of the source.
        """
        limit = self._search_limit(collection, query, top_k, mode)
        if limit == 0:
            return []
        return self._searcher.chunks(collection, query, limit, mode, filters)

    def search_documents(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
        filters: Filters = None,
    ) -> list[SearchHit]:
        """Like ``search_sync``, but one hit per document: its best chunk, scored for the
        document (blocking)."""
        limit = self._search_limit(collection, query, top_k, mode)
        if limit == 0:
            return []
        return self._searcher.documents(collection, query, limit, mode, filters)

    def _search_limit(
        self, collection: str, query: str, top_k: int | None, mode: SearchMode
    ) -> int:
        """The number of results to find; 0 when there is nothing to search."""
        if not query.strip():
            raise ValidationError("the search query is empty")
        if mode not in SEARCH_MODES:
            raise ValidationError(
                f"unknown search mode {mode!r} (use one of: {', '.join(SEARCH_MODES)})",
                details={"mode": mode},
            )
        limit = self.settings.top_k if top_k is None else top_k
        if limit < 0:
            raise ValidationError("top_k must not be negative", details={"top_k": limit})
        if limit == 0 or not self._store.has_chunks(collection):
            return 0
        return limit

    async def search(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
        filters: Filters = None,
    ) -> list[SearchHit]:
        """``search_sync`` in a worker thread, so the event loop never waits on the encoder."""
        return await asyncio.to_thread(self.search_sync, collection, query, top_k, mode, filters)

    def close(self) -> None:
        self._sources.close()
        self._store.close()
