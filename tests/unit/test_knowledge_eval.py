import json
from pathlib import Path

import pytest

from smolit.errors import ValidationError
from smolit.knowledge.evaluation import (
    load_qrels,
    ndcg_at_k,
    recall_at_k,
    run_evaluation,
)
from smolit.testing import LookupEncoder

CORPUS = [
    {"_id": "d1", "title": "Volcanoes", "text": "Lava flows from erupting volcanoes."},
    {"_id": "d2", "title": "Gardens", "text": "Tomatoes grow well in sunny gardens."},
    {"_id": "d3", "title": "Oceans", "text": "Whales migrate across cold oceans."},
]
QUERIES = [{"_id": "q1", "text": "erupting lava"}, {"_id": "q2", "text": "whales migrate"}]


def write_dataset(directory: Path) -> tuple[Path, Path, Path]:
    corpus, queries, qrels = directory / "c.jsonl", directory / "q.jsonl", directory / "r.tsv"
    corpus.write_text("\n".join(json.dumps(row) for row in CORPUS) + "\n")
    queries.write_text("\n".join(json.dumps(row) for row in QUERIES) + "\n")
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq9\td2\t1\n")
    return corpus, queries, qrels


def test_ndcg_is_one_for_the_ideal_ranking_and_discounts_lower_ranks() -> None:
    assert ndcg_at_k(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at_k(["x", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625)


def test_ndcg_uses_graded_gains() -> None:
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(
        (1 + 2 / 1.5849625) / (2 + 1 / 1.5849625)
    )


def test_recall_counts_relevant_documents_in_the_cut() -> None:
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1, "c": 0}, k=2) == 0.5


def test_qrels_skip_the_header_and_reject_a_bad_score(tmp_path: Path) -> None:
    (tmp_path / "r.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    assert load_qrels(tmp_path / "r.tsv") == {"q1": {"d1": 2}}
    (tmp_path / "bad.tsv").write_text("h\th\th\nq1\td1\thigh\n")
    with pytest.raises(ValidationError, match="integer"):
        load_qrels(tmp_path / "bad.tsv")


def test_evaluation_scores_every_mode_on_the_judged_queries(tmp_path: Path) -> None:
    result = run_evaluation(*write_dataset(tmp_path), lambda: LookupEncoder(dimension=32))
    assert result["documents"] == 3 and result["queries"] == 2  # q9 is not in the queries
    assert set(result["modes"]) == {"hybrid", "keyword", "semantic"}
    for scores in result["modes"].values():
        assert scores["ndcg_at_10"] == 1.0 and scores["recall_at_100"] == 1.0
        assert scores["query_ms_p95"] >= scores["query_ms_p50"] > 0
    assert result["ingest_docs_per_s"] > 0


def test_evaluation_refuses_a_corpus_line_that_is_not_json(tmp_path: Path) -> None:
    corpus, queries, qrels = write_dataset(tmp_path)
    corpus.write_text('{"_id": "d1", "text": "fine"}\nnot json\n')
    with pytest.raises(ValidationError, match=r"c.jsonl:2"):
        run_evaluation(corpus, queries, qrels, LookupEncoder)
