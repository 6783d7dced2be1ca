import pytest

from smolit.knowledge.fusion import best_per_group, convex_fusion, min_max


def test_min_max_scales_the_best_to_one_and_the_worst_to_zero() -> None:
    assert min_max([("a", 12.0), ("b", 7.0), ("c", 2.0)]) == {"a": 1.0, "b": 0.5, "c": 0.0}


def test_min_max_of_equal_scores_gives_all_one() -> None:
    assert min_max([("a", 0.3), ("b", 0.3)]) == {"a": 1.0, "b": 1.0}


def test_convex_fusion_averages_scaled_scores_and_counts_absence_as_zero() -> None:
    keyword = [("a", 30.0), ("b", 20.0), ("c", 10.0)]  # unbounded BM25 scale
    dense = [("b", 0.9), ("d", 0.5), ("a", 0.1)]  # cosine scale
    fused = dict(convex_fusion([keyword, dense]))
    assert fused == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.0, "d": 0.25})


def test_convex_fusion_keeps_score_gaps_that_ranks_lose() -> None:
    keyword = [("a", 10.0), ("b", 9.9), ("c", 0.0)]
    dense = [("b", 0.80), ("c", 0.79), ("a", 0.0)]
    assert [item for item, _ in convex_fusion([keyword, dense])] == ["b", "a", "c"]


def test_best_per_group_keeps_each_documents_best_chunk_score() -> None:
    ranking = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    groups = {1: "x", 2: "y", 3: "x", 4: "z"}
    assert best_per_group(ranking, groups) == [("x", 0.9), ("y", 0.8), ("z", 0.6)]
