"""``SourceManager``: a collection's sources (files, directories, URLs), registered,
synced and removed.

A source is registered once (``add``: paths must lie under the allowed roots, URLs pass
the egress policy) and synced on demand (``sync``, through ``sync.SourceSync``); syncs and
removals take turns, so a source is never removed halfway through its sync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from smolit.errors import NotFoundError, ValidationError
from smolit.knowledge.ingest import check_collection
from smolit.knowledge.records import IngestReport, SourceRecord
from smolit.knowledge.source_store import SourceStore
from smolit.knowledge.sources import classify
from smolit.knowledge.store import KnowledgeStore
from smolit.knowledge.sync import AddDocuments, SourceSync, SyncLimits

logger = logging.getLogger(__name__)


class SourceManager:
    """The sources recorded in ``sources``, whose documents ``add`` stores in ``store``."""

    def __init__(
        self,
        store: KnowledgeStore,
        sources: SourceStore,
        add: AddDocuments,
        limits: SyncLimits,
    ) -> None:
        self._store = store
        self._sources = sources
        self._limits = limits
        self._lock = threading.Lock()
        self._sync = SourceSync(store, sources, add, limits)
        if sources.fail_interrupted():
            logger.warning("sources whose sync was interrupted are marked failed")

    def add(
        self,
        collection: str,
        location: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> SourceRecord:
        """Register a file, directory or http(s) URL as a source of ``collection``.

        Paths must lie under the allowed roots; a URL the egress policy refuses is an
        ``EgressDeniedError``. It is not synced yet: see ``sync``.
        """
        check_collection(collection)
        kind, normalised = classify(location.strip(), self._limits.allowed_roots)
        if kind == "url":
            self._limits.egress.check_url(normalised)
        if kind != "directory" and (include or exclude):
            raise ValidationError(
                "include and exclude patterns apply to directory sources only",
                details={"location": normalised},
            )
        return self._sources.add(collection, kind, normalised, tuple(include), tuple(exclude))

    def sources(self, collection: str | None = None) -> list[SourceRecord]:
        return self._sources.sources(collection)

    def get(self, source_id: str, collection: str | None = None) -> SourceRecord:
        source = self._sources.get(source_id)
        if source is None or (collection is not None and source.collection != collection):
            where = f" in collection {collection!r}" if collection else ""
            raise NotFoundError(f"no source {source_id!r}{where}", details={"id": source_id})
        return source

    def remove(self, source_id: str, collection: str | None = None) -> int:
        """Forget a source and remove its documents; how many documents were removed."""
        with self._lock:
            source = self.get(source_id, collection)
            removed = 0
            for documents in self._store.source_documents(source.id).values():
                for document_id in documents.values():
                    removed += self._store.remove_document(document_id)
            self._sources.delete(source.id)
        logger.info("removed source %s with %d documents", source.id, removed)
        return removed

    def sync(
        self, source_id: str, collection: str | None = None
    ) -> tuple[SourceRecord, IngestReport]:
        """Sync one source now; its record (with status) and what the sync did."""
        with self._lock:
            report = self._sync.run(self.get(source_id, collection))
        return self.get(source_id), report

    def sync_all(self, collection: str | None = None) -> list[tuple[SourceRecord, IngestReport]]:
        """Sync every source (of ``collection``), one after the other."""
        results = []
        for source in self.sources(collection):
            try:
                results.append(self.sync(source.id))
            except NotFoundError:  # removed while the others synced
                continue
        return results
