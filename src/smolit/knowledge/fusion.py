"""Combining rankings: per-document aggregation and the fusion of keyword and dense scores.

A ranking is a list of (item, score) pairs, best first; items are chunk ids or document
ids. Hybrid search fuses the BM25 ranking and the cosine ranking with
``reciprocal_rank_fusion``: it uses ranks only, so it needs no calibration between the
unbounded BM25 scale and the cosine scale, and its constant (60) is the one of the paper
that introduced it (Cormack, Clarke and Buettcher, SIGIR 2009), not fitted to any data here.
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
