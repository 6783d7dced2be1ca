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


@dataclass(frozen=True)
class SearchHit:
    """One matching chunk; a higher ``score`` is a better match within one search."""

    document_id: str
    chunk_id: int
    collection: str
    title: str
    source: str
    text: str
    score: float


@dataclass(frozen=True)
class IngestError:
    """A file that could not be ingested, and why."""

    path: str
    message: str


@dataclass
class IngestReport:
    """What ``KnowledgeManager.ingest_path`` did, file by file, in counts."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[IngestError] = field(default_factory=list)
