"""The knowledge base: documents in collections, chunked, embedded and searched.

``KnowledgeManager`` is the entry point; ``KnowledgeStore`` is its SQLite file.
"""

from smolit.knowledge.fusion import reciprocal_rank_fusion
from smolit.knowledge.manager import KnowledgeManager

__all__ = ["KnowledgeManager", "reciprocal_rank_fusion"]
