"""``KnowledgeManager``: ingest documents into collections, keep them synced, search them.

Documents come in directly (``add_document``, ``ingest_path``, ``add_upload``) or from a
collection's sources (files, directories, URLs; ``add_source``, ``sync_source``), which
``knowledge.sync`` keeps in step with their origin.

Search comes in three modes: ``keyword`` (BM25 over an FTS5 index), ``semantic`` (cosine
over chunk embeddings, FAISS) and ``hybrid`` (the two fused), over chunks (``search``) or
documents (``search_documents``); see ``knowledge.search``. The encoder is built on
first use, so a manager that only lists or counts never loads a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from smolit.config import NAME_PATTERN, KnowledgeSettings
from smolit.encoding.base import TextEncoder
from smolit.errors import (
    ConfigError,
    KnowledgeError,
    NotFoundError,
    SmolitError,
    ValidationError,
)
from smolit.knowledge.chunking import chunk_for_encoder
from smolit.knowledge.extraction import (
    ExtractedDocument,
    extract,
    is_supported,
    read_file,
)
from smolit.knowledge.records import (
    SEARCH_MODES,
    DocumentRecord,
    IngestError,
    IngestReport,
    NewDocument,
    SearchHit,
    SearchMode,
    SourceRecord,
)
from smolit.knowledge.search import Filters, Searcher
from smolit.knowledge.source_store import SourceStore
from smolit.knowledge.sources import classify
from smolit.knowledge.store import KnowledgeStore
from smolit.knowledge.sync import SourceSync, SyncLimits
from smolit.knowledge.uploads import read_upload, safe_file_name, store_upload
from smolit.security.atrest import AtRestKeys
from smolit.security.egress import EgressPolicy

logger = logging.getLogger(__name__)

DATABASE_FILE = "knowledge.db"
MB = 1_000_000

Outcome = Literal["added", "updated", "unchanged"]
#: what storing one document gives: the record and what happened, or why it was refused
AddResult = tuple[DocumentRecord, Outcome] | SmolitError
#: documents whose chunks are embedded in one call (bounded memory, little padding)
INGEST_BATCH = 64


@dataclass(frozen=True)
class _Prepared:
    """A document checked and chunked, waiting for its embeddings."""

    title: str
    source: str
    checksum: str
    metadata: dict[str, Any]
    text: str
    chunks: list[str]
    inputs: list[str]


def _check_collection(collection: str) -> None:
    if not re.fullmatch(NAME_PATTERN, collection):
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
        self._encoder_provider = encoder_provider
        self._encoder: TextEncoder | None = None
        self._encoder_lock = threading.Lock()
        database_key = keys.database if keys else None
        self._files_key = keys.files if keys else None
        self._store = KnowledgeStore(
            directory / DATABASE_FILE, key=database_key, files_key=self._files_key
        )
        self._searcher = Searcher(self._store, lambda query: self._encode([query])[0])
        self._sources = SourceStore(self._store.path, database_key)
        self.allowed_roots = tuple(Path(os.path.realpath(root)) for root in allowed_roots)
        self.uploads_dir = uploads_dir or directory / "uploads"
        self._max_file_bytes = int(settings.max_file_mb * MB)
        self.egress = egress or EgressPolicy()
        self._sync_lock = threading.Lock()
        self._sync = SourceSync(
            self._store,
            self._sources,
            self.add_documents,
            SyncLimits(
                self.allowed_roots, self._max_file_bytes, settings.fetch_timeout, self.egress
            ),
        )
        if self._sources.fail_interrupted():
            logger.warning("sources whose sync was interrupted are marked failed")

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
        """Store ``documents`` as ``add_document`` does, one result per document, in order.

        The chunks of up to ``INGEST_BATCH`` documents are embedded together: the encoder
        groups texts of similar length, so a batch pads less and runs several times faster
        than one document at a time. A document that cannot be stored gets its error as its
        result; the others still go in. ``source_id`` and ``origin`` link every document
        to the source it was synced from.
        """
        _check_collection(collection)
        results: list[AddResult] = []
        for start in range(0, len(documents), INGEST_BATCH):
            batch = documents[start : start + INGEST_BATCH]
            results += self._add_batch(collection, batch, source_id, origin)
        return results

    def _add_batch(
        self,
        collection: str,
        documents: Sequence[NewDocument],
        source_id: str | None,
        origin: str | None,
    ) -> list[AddResult]:
        results: list[AddResult | _Prepared] = []
        for document in documents:
            try:
                results.append(self._prepare(collection, document))
            except (ValidationError, KnowledgeError) as exc:
                results.append(exc)
        prepared = [item for item in results if isinstance(item, _Prepared)]
        if not prepared:
            return [item for item in results if not isinstance(item, _Prepared)]
        try:
            embeddings = self._encode([text for item in prepared for text in item.inputs])
        except KnowledgeError as exc:
            return [exc if isinstance(item, _Prepared) else item for item in results]
        offsets = itertools.accumulate((len(item.inputs) for item in prepared), initial=0)
        rows = itertools.pairwise(offsets)  # each prepared document's rows, in order
        stored: list[AddResult] = []
        for item in results:
            if not isinstance(item, _Prepared):
                stored.append(item)
                continue
            begin, end = next(rows)
            try:
                stored.append(
                    self._save(collection, item, embeddings[begin:end], source_id, origin)
                )
            except (ValidationError, KnowledgeError) as exc:
                stored.append(exc)
        return stored

    def _prepare(self, collection: str, document: NewDocument) -> AddResult | _Prepared:
        """The stored record when ``document`` is unchanged, else its chunks to embed."""
        title, source = document.title.strip(), document.source.strip()
        if not title or not source:
            raise ValidationError("a document needs a title and a source")
        checksum = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        existing = self._store.find_document(collection, source)
        if existing is not None and existing.checksum == checksum:
            return existing, "unchanged"
        encoded = chunk_for_encoder(
            title,
            document.text,
            self.settings.chunk_words,
            self.settings.chunk_overlap,
            self._get_encoder(),
        )
        if not encoded.chunks:
            raise ValidationError("the document has no text", details={"source": source})
        if existing is None:  # refuse before encoding; save_document checks again atomically
            self._store.check_capacity(self.settings.max_documents)
        return _Prepared(
            title,
            source,
            checksum,
            document.metadata,
            document.text,
            encoded.chunks,
            encoded.inputs,
        )

    def _save(
        self,
        collection: str,
        item: _Prepared,
        embeddings: torch.Tensor,
        source_id: str | None,
        origin: str | None,
    ) -> tuple[DocumentRecord, Outcome]:
        record, created = self._store.save_document(
            collection=collection,
            title=item.title,
            source=item.source,
            checksum=item.checksum,
            metadata=item.metadata,
            chunks=item.chunks,
            embeddings=embeddings,
            max_documents=self.settings.max_documents,
            source_id=source_id,
            origin=origin,
            text=item.text,
        )
        return record, "added" if created else "updated"

    def _ingest(
        self, collection: str, documents: list[ExtractedDocument], report: IngestReport
    ) -> list[tuple[DocumentRecord | None, SmolitError | None]]:
        """Store each document; a failure is reported and the others still go in."""
        batch = [
            NewDocument(
                document.title, document.text, str(document.metadata["source"]), document.metadata
            )
            for document in documents
        ]
        results: list[tuple[DocumentRecord | None, SmolitError | None]] = []
        for document, result in zip(documents, self.add_documents(collection, batch), strict=True):
            where = document.metadata["source"]
            if isinstance(result, SmolitError):
                report.errors.append(IngestError(path=where, message=result.message))
                results.append((None, result))
                continue
            record, outcome = result
            report.count(outcome)
            note = document.metadata.get("encoding_note")
            if note and outcome != "unchanged":
                report.warnings.append(IngestError(path=where, message=str(note)))
            results.append((record, None))
        return results

    def ingest_path(self, collection: str, path: Path, root: Path | None = None) -> IngestReport:
        """Ingest a file, or every file of a supported type below a directory.

        A file's source is its path relative to ``root``, or its absolute path without one
        (plus ``#key`` for each record of a JSON Lines or record file). Files that cannot
        be ingested are listed in the report's errors; the rest go in.
        """
        _check_collection(collection)
        if not path.exists():
            raise NotFoundError(f"{path}: no such file or directory", details={"path": str(path)})
        if root is not None and not _absolute(path).is_relative_to(_absolute(root)):
            raise ValidationError(f"{path} is not inside {root}", details={"path": str(path)})
        report = IngestReport()
        for file in _files_under(path) if path.is_dir() else [path]:
            try:
                documents = read_file(file, _source_for(file, root), self._max_file_bytes)
            except ValidationError as exc:
                report.errors.append(IngestError(path=str(file), message=exc.message))
                continue
            self._ingest(collection, documents, report)
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

    def list_documents(
        self,
        collection: str,
        source_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DocumentRecord]:
        """The documents of ``collection`` (only those of one source), oldest first."""
        _check_collection(collection)
        if (limit is not None and limit < 0) or offset < 0:
            raise ValidationError("limit and offset must not be negative")
        return self._store.list_documents(collection, source_id, limit, offset)

    def add_upload(
        self, collection: str, filename: str, data: bytes
    ) -> tuple[list[DocumentRecord], IngestReport]:
        """Keep an uploaded file under ``uploads_dir/<collection>/`` and ingest it.

        A file name with a directory part, a file too large or a file that cannot be read
        raises ``ValidationError`` and nothing is kept. Uploading the same name again
        replaces that upload's documents.
        """
        _check_collection(collection)
        name = safe_file_name(filename)
        if len(data) > self._max_file_bytes:
            raise ValidationError(
                f"file too large ({len(data) / MB:.1f} MB, the limit is "
                f"{self._max_file_bytes / MB:g} MB: knowledge.max_file_mb)",
                details={"size": len(data), "limit": self._max_file_bytes},
            )
        path = self.uploads_dir / collection / name
        documents = extract(data, name, str(path))
        store_upload(path, data, self._files_key)
        report = IngestReport()
        results = self._ingest(collection, documents, report)
        stored = [record for record, _ in results if record is not None]
        if not stored:
            first_error = next(error for _, error in results if error is not None)
            raise first_error
        kept = {record.source for record in stored} | {d.metadata["source"] for d in documents}
        for record in self._store.list_documents(collection):
            if record.source.startswith(f"{path}#") and record.source not in kept:
                self._store.remove_document(record.id)
                report.removed += 1
        return stored, report

    def upload(self, collection: str, filename: str) -> bytes:
        """The original of an upload, as it was sent (decrypted when sealed at rest)."""
        _check_collection(collection)
        path = self.uploads_dir / collection / safe_file_name(filename)
        if not path.is_file():
            raise NotFoundError(
                f"no upload {filename!r} in collection {collection!r}",
                details={"collection": collection, "filename": filename},
            )
        return read_upload(path, self._files_key)

    # --- sources ---------------------------------------------------------------------------

    def add_source(
        self,
        collection: str,
        location: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> SourceRecord:
        """Register a file, directory or http(s) URL as a source of ``collection``.

        Paths must lie under ``allowed_roots``; a URL the egress policy refuses is an
        ``EgressDeniedError``. It is not synced yet: see ``sync_source``.
        """
        _check_collection(collection)
        kind, normalised = classify(location.strip(), self.allowed_roots)
        if kind == "url":
            self.egress.check_url(normalised)
        if kind != "directory" and (include or exclude):
            raise ValidationError(
                "include and exclude patterns apply to directory sources only",
                details={"location": normalised},
            )
        return self._sources.add(collection, kind, normalised, tuple(include), tuple(exclude))

    def sources(self, collection: str | None = None) -> list[SourceRecord]:
        return self._sources.sources(collection)

    def get_source(self, source_id: str, collection: str | None = None) -> SourceRecord:
        source = self._sources.get(source_id)
        if source is None or (collection is not None and source.collection != collection):
            where = f" in collection {collection!r}" if collection else ""
            raise NotFoundError(f"no source {source_id!r}{where}", details={"id": source_id})
        return source

    def remove_source(self, source_id: str, collection: str | None = None) -> int:
        """Forget a source and remove its documents; how many documents were removed."""
        with self._sync_lock:
            source = self.get_source(source_id, collection)
            removed = 0
            for documents in self._store.source_documents(source.id).values():
                for document_id in documents.values():
                    removed += self._store.remove_document(document_id)
            self._sources.delete(source.id)
        logger.info("removed source %s with %d documents", source.id, removed)
        return removed

    def sync_source(
        self, source_id: str, collection: str | None = None
    ) -> tuple[SourceRecord, IngestReport]:
        """Sync one source now; its record (with status) and what the sync did."""
        with self._sync_lock:
            report = self._sync.run(self.get_source(source_id, collection))
        return self.get_source(source_id), report

    def sync_all(self, collection: str | None = None) -> list[tuple[SourceRecord, IngestReport]]:
        """Sync every source (of ``collection``), one after the other."""
        results = []
        for source in self.sources(collection):
            try:
                results.append(self.sync_source(source.id))
            except NotFoundError:  # removed while the others synced
                continue
        return results

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
        """Like ``search``, but one hit per document: its best chunk, scored for the document."""
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

    async def asearch(
        self,
        collection: str,
        query: str,
        top_k: int | None = None,
        mode: SearchMode = "hybrid",
        filters: Filters = None,
    ) -> list[SearchHit]:
        """``search`` in a worker thread, so the event loop never waits on the encoder."""
        return await asyncio.to_thread(self.search, collection, query, top_k, mode, filters)

    def close(self) -> None:
        self._sources.close()
        self._store.close()
