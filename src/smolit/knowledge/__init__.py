"""The knowledge base: documents in collections, chunked, embedded and searched.

``KnowledgeManager`` is the entry point; ``KnowledgeStore`` is its SQLite file.
"""

from smolit.knowledge.chunking import chunk_text
from smolit.knowledge.extraction import ExtractedDocument, extract, read_file
from smolit.knowledge.fusion import reciprocal_rank_fusion
from smolit.knowledge.manager import KnowledgeManager
from smolit.knowledge.records import (
    DocumentRecord,
    IngestError,
    IngestReport,
    SearchHit,
    SearchMode,
    SourceRecord,
)
from smolit.knowledge.store import KnowledgeStore

__all__ = [
    "DocumentRecord",
    "ExtractedDocument",
    "IngestError",
    "IngestReport",
    "KnowledgeManager",
    "KnowledgeStore",
    "SearchHit",
    "SearchMode",
    "SourceRecord",
    "chunk_text",
    "extract",
    "read_file",
    "reciprocal_rank_fusion",
]
