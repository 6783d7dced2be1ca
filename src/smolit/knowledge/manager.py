"""``KnowledgeManager``: ingest documents into collections and search them.

Search comes in three modes: ``keyword`` (BM25 over an FTS5 index), ``semantic`` (exact
cosine over chunk embeddings) and ``hybrid`` (reciprocal-rank fusion of the two). The
encoder is built on first use, so a manager that only lists or counts never loads a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from smolit.config import NAME_PATTERN, KnowledgeSettings
from smolit.errors import ConfigError, KnowledgeError, NotFoundError, ValidationError
from smolit.knowledge.chunking import chunk_text
from smolit.knowledge.extraction import is_supported, read_document
from smolit.knowledge.records import (
    SEARCH_MODES,
    DocumentRecord,
    IngestError,
    IngestReport,
    SearchHit,
    SearchMode,
)
from smolit.knowledge.store import KnowledgeStore
from smolit.routing.encoder import TextEncoder

logger = logging.getLogger(__name__)

DATABASE_FILE = "knowledge.db"
#: the constant of reciprocal-rank fusion: 1 / (RRF_K + rank)
RRF_K = 60
#: hybrid search fuses this many candidates per top_k result from each ranking ...
HYBRID_CANDIDATES_PER_RESULT = 4
#: ... and never fewer than this
HYBRID_MIN_CANDIDATES = 20

Outcome = Literal["added", "updated", "unchanged"]
Ranking = list[tuple[int, float]]


def reciprocal_rank_fusion(rankings: list[Ranking], k: int = RRF_K) -> Ranking:
    """Fuse rankings of (id, score): each id scores the sum of 1 / (k + rank), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def _check_collection(collection: str) -> None:
    if not re.match(NAME_PATTERN, collection):
        raise ValidationError(
            f"invalid collection name {collection!r}: use 1-64 lower-case letters, digits, "
            "'_' or '-', starting with a letter or digit",
            details={"collection": collection},
        )


def _absolute(path: Path) -> Path:
    """``path`` made absolute and normalised, without following symbolic links."""
    return Path(os.path.abspath(path))


def _source_for(file: Path, root: Path | None) -> str:
    if root is None:
        return str(_absolute(file))
    return _absolute(file).relative_to(_absolute(root)).as_posix()


def _files_under(directory: Path) -> list[Path]:
    """Supported files below ``directory``, skipping hidden files and directories."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and is_supported(path)
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


class KnowledgeManager:
    """The knowledge bases of all agents, one collection each, in ``directory``."""

    def __init__(
        self,
        settings: KnowledgeSettings,
        directory: Path,
        encoder_provider: Callable[[], TextEncoder],
    ) -> None:
        if settings.chunk_overlap >= settings.chunk_words:
            raise ConfigError(
                f"knowledge.chunk_overlap ({settings.chunk_overlap}) must be less than "
                f"knowledge.chunk_words ({settings.chunk_words})",
                details={"key": "knowledge.chunk_overlap"},
            )
        self.settings = settings
        self.directory = directory
        self._encoder_provider = encoder_provider
        self._encoder: TextEncoder | None = None
        self._encoder_lock = threading.Lock()
        self._store = KnowledgeStore(directory / DATABASE_FILE)

    # --- the encoder -------------------------------------------------------------------

    def _get_encoder(self) -> TextEncoder:
        with self._encoder_lock:
            if self._encoder is None:
                encoder = self._encoder_provider()
                self._check_encoder(encoder)
                self._encoder = encoder
            return self._encoder

    def _check_encoder(self, encoder: TextEncoder) -> None:
        """Refuse an encoder other than the one that made the stored embeddings."""
        stored = self._store.get_meta("encoder_id")
        if stored == encoder.encoder_id:
            return
        if stored is not None and self._store.counts()[1] > 0:
            raise KnowledgeError(
                f"the knowledge base {self._store.path} was built with encoder {stored!r}, "
                f"not the configured {encoder.encoder_id!r}: set knowledge.embedding_model "
                "back, or remove the file to rebuild it",
                details={"stored": stored, "configured": encoder.encoder_id},
            )
        self._store.set_meta("encoder_id", encoder.encoder_id)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        vectors = self._get_encoder().encode(texts)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise KnowledgeError(
                f"the encoder returned shape {tuple(vectors.shape)} for {len(texts)} texts"
            )
        return vectors

    # --- documents ---------------------------------------------------------------------

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
        record, _ = self._add(collection, title, text, source, metadata or {})
        return record

    def _add(
        self, collection: str, title: str, text: str, source: str, metadata: dict[str, Any]
    ) -> tuple[DocumentRecord, Outcome]:
        _check_collection(collection)
        title, source = title.strip(), source.strip()
        if not title or not source:
            raise ValidationError("a document needs a title and a source")
        checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
        existing = self._store.find_document(collection, source)
        if existing is not None and existing.checksum == checksum:
            return existing, "unchanged"
        chunks = chunk_text(text, self.settings.chunk_words, self.settings.chunk_overlap)
        if not chunks:
            raise ValidationError("the document has no text", details={"source": source})
        if existing is None:  # refuse before encoding; save_document checks again atomically
            self._store.check_capacity(self.settings.max_documents)
        record, created = self._store.save_document(
            collection=collection,
            title=title,
            source=source,
            checksum=checksum,
            metadata=metadata,
            chunks=chunks,
            embeddings=self._encode(chunks),
            max_documents=self.settings.max_documents,
        )
        return record, "added" if created else "updated"

    def ingest_path(self, collection: str, path: Path, root: Path | None = None) -> IngestReport:
        """Ingest a file, or every ``*.txt`` and ``*.md`` file below a directory.

        A file's source is its path relative to ``root``, or its absolute path without one.
        Files that cannot be ingested are listed in the report's errors; the rest go in.
        """
        _check_collection(collection)
        if not path.exists():
            raise NotFoundError(f"{path}: no such file or directory", details={"path": str(path)})
        if root is not None and not _absolute(path).is_relative_to(_absolute(root)):
            raise ValidationError(f"{path} is not inside {root}", details={"path": str(path)})
        report = IngestReport()
        for file in _files_under(path) if path.is_dir() else [path]:
            try:
                document = read_document(file)
                source = _source_for(file, root)
                _, outcome = self._add(collection, document.title, document.text, source, {})
            except (ValidationError, KnowledgeError) as exc:
                report.errors.append(IngestError(path=str(file), message=exc.message))
                continue
            if outcome == "added":
                report.added += 1
            elif outcome == "updated":
                report.updated += 1
            else:
                report.unchanged += 1
        logger.info(
            "ingested %s into %r: %d added, %d updated, %d unchanged, %d errors",
            path,
            collection,
            report.added,
            report.updated,
            report.unchanged,
            len(report.errors),
        )
        return report

    def get_document(self, document_id: str) -> DocumentRecord:
        record = self._store.get_document(document_id)
        if record is None:
            raise NotFoundError(f"no document {document_id!r}", details={"id": document_id})
        return record

    def remove_document(self, document_id: str) -> None:
        if not self._store.remove_document(document_id):
            raise NotFoundError(f"no document {document_id!r}", details={"id": document_id})

    def collections(self) -> list[str]:
        return self._store.collections()

    def stats(self, collection: str | None = None) -> dict[str, int]:
        """Counts of documents and chunks in ``collection``, or in all of them."""
        documents, chunks = self._store.counts(collection)
        return {"documents": documents, "chunks": chunks}

    # --- search ------------------------------------------------------------------------

    def search(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        """The ``top_k`` chunks of ``collection`` that best match ``query``, best first."""
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
            return []
        if mode == "keyword":
            ranking = self._store.keyword_search(collection, query, limit)
        elif mode == "semantic":
            ranking = self._store.dense_search(collection, self._encode([query])[0], limit)
        else:
            candidates = max(limit * HYBRID_CANDIDATES_PER_RESULT, HYBRID_MIN_CANDIDATES)
            keyword = self._store.keyword_search(collection, query, candidates)
            dense = self._store.dense_search(collection, self._encode([query])[0], candidates)
            ranking = reciprocal_rank_fusion([keyword, dense])[:limit]
        return self._store.hits(ranking)

    async def asearch(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        """``search`` in a worker thread, so the event loop never waits on the encoder."""
        return await asyncio.to_thread(self.search, collection, query, top_k, mode)

    def close(self) -> None:
        self._store.close()
