"""Searching a collection: ``keyword`` (BM25), ``semantic`` (cosine) or ``hybrid`` (both).

``Searcher.chunks`` returns the best chunks, for an agent's context. ``Searcher.documents``
ranks documents, the unit that retrieval benchmarks judge: by BM25 over each whole
document on the keyword side, by its best chunk (MaxP) on the dense side; it returns each
document's best chunk with the document's score. Hybrid search fuses the keyword and the
cosine ranking by the mean of their min-max scaled scores (``fusion.convex_fusion``), at
the level that is returned: chunks, or documents.
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
#: the dense side of a document search first reads this many chunks per document wanted,
#: more when a few documents hold most of the nearest chunks
CHUNKS_PER_DOCUMENT = 2

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
        """The ``limit`` best documents, best first, each as its best chunk.

        Each side ranks ``depth`` documents: the keyword side by BM25 over whole documents,
        the dense side by each document's best chunk (MaxP), reading chunks until it has
        that many documents. A document is shown as its best chunk by BM25, else by cosine,
        else its first chunk.
        """
        depth = max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
        rankings: list[list[tuple[str, float]]] = []
        shown: dict[str, int] = {}
        if mode in ("keyword", "hybrid"):
            rankings.append(self._store.document_keyword_search(collection, query, depth, filters))
            passages = self._store.keyword_search(collection, query, depth, filters)
            shown = _best_chunks(passages, self._store.chunk_documents([c for c, _ in passages]))
        if mode in ("semantic", "hybrid"):
            ranking, best = self._dense_documents(collection, query, depth, filters)
            rankings.append(ranking)
            shown = best | shown
        fused = rankings[0] if len(rankings) == 1 else convex_fusion(rankings)
        top = fused[:limit]
        unshown = [document for document, _ in top if document not in shown]
        if unshown:
            shown |= self._store.first_chunks(unshown)
        scored = [(shown[document], score) for document, score in top if document in shown]
        return self._store.hits(scored, query)

    def _dense_documents(
        self, collection: str, query: str, depth: int, filters: Filters
    ) -> tuple[list[tuple[str, float]], dict[str, int]]:
        """The ``depth`` documents nearest to ``query`` by their best chunk, and that chunk."""
        vector = self._encode(query)
        wanted = depth * CHUNKS_PER_DOCUMENT
        while True:
            ranking = self._store.dense_search(collection, vector, wanted, filters)
            document_of = self._store.chunk_documents([chunk_id for chunk_id, _ in ranking])
            per_document = best_per_group(ranking, document_of)
            if len(per_document) >= depth or len(ranking) < wanted:
                return per_document[:depth], _best_chunks(ranking, document_of)
            wanted *= 2


def _best_chunks(ranking: Ranking, document_of: dict[int, str]) -> dict[str, int]:
    """The first (best) chunk of each document in ``ranking``."""
    best: dict[str, int] = {}
    for chunk_id, _ in ranking:
        document = document_of.get(chunk_id)
        if document is not None:
            best.setdefault(document, chunk_id)
    return best
