"""Combining rankings: per-document aggregation and the fusion of keyword and dense scores.

A ranking is a list of (item, score) pairs, best first; items are chunk ids or document
ids. Hybrid search fuses the BM25 ranking and the cosine ranking with ``convex_fusion``:
each ranking's scores are scaled to [0, 1] over its own candidates (min-max), an item a
ranking did not return gets 0 there, and the scaled scores are averaged with equal weights.
Unlike rank fusion it keeps how far apart the scores are, which Bruch, Gai and Ingber
(ACM TOIS 2023, "An Analysis of Fusion Functions for Hybrid Retrieval") found better than
reciprocal-rank fusion across data sets; equal weights assume nothing about which side is
better, since a collection comes without relevance judgments to learn that from.
``reciprocal_rank_fusion`` (constant 60, from Cormack, Clarke and Buettcher, SIGIR 2009)
stays for callers that have ranks only.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

Item = TypeVar("Item", bound=Hashable)

#: the constant of reciprocal-rank fusion: 1 / (RRF_K + rank)
RRF_K = 60


def reciprocal_rank_fusion(
    rankings: list[list[tuple[Item, float]]], k: int = RRF_K
) -> list[tuple[Item, float]]:
    """Fuse rankings: each item scores the sum of 1 / (k + rank), best first.

    Ties keep the order in which items first appear in the rankings.
    """
    fused: dict[Item, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def min_max(ranking: list[tuple[Item, float]]) -> dict[Item, float]:
    """Scores scaled to [0, 1] over ``ranking``: best 1, worst 0; all 1 when they are equal."""
    if not ranking:
        return {}
    scores = [score for _, score in ranking]
    low, high = min(scores), max(scores)
    if high == low:
        return {item: 1.0 for item, _ in ranking}
    return {item: (score - low) / (high - low) for item, score in ranking}


def convex_fusion(rankings: list[list[tuple[Item, float]]]) -> list[tuple[Item, float]]:
    """The mean of each ranking's min-max scaled scores (0 where absent), best first.

    Ties keep the order in which items first appear in the rankings.
    """
    fused: dict[Item, float] = {}
    for ranking in rankings:
        for item, scaled in min_max(ranking).items():
            fused[item] = fused.get(item, 0.0) + scaled / len(rankings)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def best_per_group(
    ranking: list[tuple[int, float]], group_of: Mapping[int, str]
) -> list[tuple[str, float]]:
    """Each group (document) once, with the score of its best item (chunk), best first.

    Items without a group are left out. A document is as relevant as its most relevant
    passage (MaxP, Dai and Callan, SIGIR 2019): a long document is not penalised for the
    parts that are about something else.
    """
    best: dict[str, float] = {}
    for item, score in ranking:
        group = group_of.get(item)
        if group is not None and group not in best:
            best[group] = score
    return list(best.items())
