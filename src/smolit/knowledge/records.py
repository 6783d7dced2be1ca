"""The values the knowledge base hands out: documents, search hits, ingest reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SearchMode = Literal["hybrid", "keyword", "semantic"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "keyword", "semantic")


@dataclass(frozen=True)
class DocumentRecord:
    """One stored document; ``checksum`` is the sha256 of its text."""

    id: str
    collection: str
    title: str
    source: str
    checksum: str
    chunks: int
    created: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the ``SourceRecord`` it was synced from; None for documents added directly
    source_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "title": self.title,
            "source": self.source,
            "source_id": self.source_id,
            "checksum": self.checksum,
            "chunks": self.chunks,
            "created": self.created.isoformat(),
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class NewDocument:
    """A document to store: ``source`` names it within its collection."""

    title: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedDocument:
    """A document checked and chunked, ready to be stored with one embedding per chunk.

    ``checksum`` is the sha256 of ``text``; ``text`` is the whole document, for the
    whole-document keyword index (None: the chunks joined). ``source_id`` and ``origin``
    link it to the source and the item (file or URL) it was synced from.
    """

    collection: str
    title: str
    source: str
    checksum: str
    chunks: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    source_id: str | None = None
    origin: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One matching chunk; a higher ``score`` is a better match within one search.

    In a document search (``KnowledgeManager.search_documents``) there is one hit per
    document: its best chunk, with the document's score.
    """

    document_id: str
    chunk_id: int
    collection: str
    title: str
    source: str
    text: str
    score: float
    #: fragments of ``text`` with the query's terms marked ``**like this**``
    highlights: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestError:
    """A file that could not be ingested, and why."""

    path: str
    message: str


@dataclass
class IngestReport:
    """What an ingest or a sync did, in documents; ``warnings`` went in with a caveat."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: list[IngestError] = field(default_factory=list)
    warnings: list[IngestError] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        """Count one document as ``added``, ``updated``, ``unchanged`` or ``removed``."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "errors": [{"path": e.path, "message": e.message} for e in self.errors],
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
        }


SourceKind = Literal["file", "directory", "url"]
SyncStatus = Literal["new", "running", "ok", "error"]


@dataclass(frozen=True)
class SourceRecord:
    """Where a collection's documents come from, and how its last sync went.

    ``status`` is ``new`` before the first sync, ``running`` during one, then ``ok`` or
    ``error`` (``error`` names the failure, or how many documents failed).
    ``last_report`` holds the counts and per-document errors of the last finished sync.
    """

    id: str
    collection: str
    kind: SourceKind
    location: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    created: datetime
    status: SyncStatus = "new"
    sync_started: datetime | None = None
    sync_finished: datetime | None = None
    error: str | None = None
    last_report: dict[str, Any] = field(default_factory=dict)
    documents: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collection": self.collection,
            "kind": self.kind,
            "location": self.location,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "created": self.created.isoformat(),
            "status": self.status,
            "sync_started": self.sync_started.isoformat() if self.sync_started else None,
            "sync_finished": self.sync_finished.isoformat() if self.sync_finished else None,
            "error": self.error,
            "last_report": self.last_report,
            "documents": self.documents,
        }


@dataclass(frozen=True)
class SourceItem:
    """What a sync last saw of one file or URL of a source, to tell whether it changed.

    ``item`` is the file's path (relative to a directory source) or the URL.
    """

    item: str
    checksum: str
    size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    last_modified: str | None = None
