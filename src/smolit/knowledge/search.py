"""Searching a collection: ``keyword`` (BM25), ``semantic`` (cosine) or ``hybrid`` (both).

Every mode ranks chunks first. ``Searcher.chunks`` returns the best chunks, for an agent's
context; ``Searcher.documents`` ranks documents by their best chunk (MaxP), the unit that
retrieval benchmarks judge, and returns each document's best chunk with its score.
Hybrid search fuses the keyword and the cosine ranking by the mean of their min-max
scaled scores (``fusion.convex_fusion``), at the level that is returned: chunks, or
documents.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from smolit.knowledge.fusion import best_per_group, convex_fusion
from smolit.knowledge.records import SearchHit, SearchMode
from smolit.knowledge.store import KnowledgeStore

#: each ranking contributes this many candidates per result wanted ...
CANDIDATES_PER_RESULT = 4
#: ... and never fewer than this
MIN_CANDIDATES = 20

Ranking = list[tuple[int, float]]
Filters = dict[str, str] | None


class Searcher:
    """Searches ``store``; ``encode`` turns a query into a unit vector (built lazily)."""

    def __init__(self, store: KnowledgeStore, encode: Callable[[str], torch.Tensor]) -> None:
        self._store = store
        self._encode = encode

    def _rankings(
        self, collection: str, query: str, mode: SearchMode, depth: int, filters: Filters
    ) -> list[Ranking]:
        rankings = []
        if mode in ("keyword", "hybrid"):
            rankings.append(self._store.keyword_search(collection, query, depth, filters))
        if mode in ("semantic", "hybrid"):
            vector = self._encode(query)
            rankings.append(self._store.dense_search(collection, vector, depth, filters))
        return rankings

    def chunks(
        self, collection: str, query: str, limit: int, mode: SearchMode, filters: Filters
    ) -> list[SearchHit]:
        """The ``limit`` best chunks, best first."""
        depth = max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
        rankings = self._rankings(collection, query, mode, depth, filters)
        ranking = rankings[0] if len(rankings) == 1 else convex_fusion(rankings)
        return self._store.hits(ranking[:limit], query)

    def documents(
        self, collection: str, query: str, limit: int, mode: SearchMode, filters: Filters
    ) -> list[SearchHit]:
        """The ``limit`` best documents, best first, each as its best chunk."""
        depth = max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
        rankings = self._rankings(collection, query, mode, depth, filters)
        chunk_ids = {chunk_id for ranking in rankings for chunk_id, _ in ranking}
        document_of = self._store.chunk_documents(sorted(chunk_ids))
        best_chunk: dict[str, int] = {}
        per_document = []
        for ranking in rankings:
            for chunk_id, _ in ranking:  # the first ranking's best chunk represents a document
                best_chunk.setdefault(document_of.get(chunk_id, ""), chunk_id)
            per_document.append(best_per_group(ranking, document_of))
        fused = per_document[0] if len(per_document) == 1 else convex_fusion(per_document)
        return self._store.hits([(best_chunk[doc], score) for doc, score in fused[:limit]], query)
