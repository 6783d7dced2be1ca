"""The knowledge base: documents in collections, chunked, embedded and searched.

``KnowledgeManager`` is the entry point; ``KnowledgeStore`` is its SQLite file.
"""

from smolit.knowledge.chunking import chunk_text
from smolit.knowledge.extraction import ExtractedDocument, read_document
from smolit.knowledge.manager import KnowledgeManager, reciprocal_rank_fusion
from smolit.knowledge.records import (
    DocumentRecord,
    IngestError,
    IngestReport,
    SearchHit,
    SearchMode,
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
    "chunk_text",
    "read_document",
    "reciprocal_rank_fusion",
]
