"""Router evaluation: classification metrics by hand, and the shape of ``evaluate``."""

from __future__ import annotations

from smolit.routing.data import LabelledData
from smolit.routing.evaluation import (
    abstention_metrics,
    classification_metrics,
    evaluate,
    single_query_latency_ms,
)

# row by row: right, in-scope rejected, in-scope rejected, oos caught, oos routed to "c"
GOLD = ["a", "b", "c", "oos", "oos"]
PREDICTED = ["a", "oos", "oos", "oos", "c"]


def test_accuracy_counts_oos_as_a_class() -> None:
    assert classification_metrics(GOLD, PREDICTED)["accuracy"] == 0.4


def test_in_scope_accuracy_counts_a_rejection_as_wrong() -> None:
    metrics = classification_metrics(GOLD, PREDICTED)
    assert metrics["in_scope_accuracy"] == 0.33333
    assert metrics["in_scope_rejected"] == 0.66667


def test_oos_recall_is_the_share_of_oos_rows_rejected() -> None:
    assert classification_metrics(GOLD, PREDICTED)["oos_recall"] == 0.5


def test_oos_precision_is_the_share_of_rejections_that_were_oos() -> None:
    assert classification_metrics(GOLD, PREDICTED)["oos_precision"] == 0.33333


def test_metrics_count_the_rows() -> None:
    metrics = classification_metrics(GOLD, PREDICTED)
    assert (metrics["rows"], metrics["in_scope_rows"], metrics["oos_rows"]) == (5, 3, 2)


def test_oos_metrics_are_none_without_oos_rows_or_rejections() -> None:
    metrics = classification_metrics(["a", "b"], ["a", "a"])
    assert (metrics["oos_recall"], metrics["oos_precision"]) == (None, None)
    assert metrics["in_scope_accuracy"] == 0.5


def test_in_scope_accuracy_is_none_without_in_scope_rows() -> None:
    metrics = classification_metrics(["oos"], ["oos"])
    assert (metrics["in_scope_accuracy"], metrics["accuracy"]) == (None, 1.0)


def test_evaluate_reports_every_documented_metric() -> None:
    data = LabelledData.of([("boil an egg", "a"), ("fly away", "b"), ("weather?", "oos")])

    def predict(texts: list[str]) -> list[str]:
        return ["a"] * len(texts)

    metrics = evaluate(predict, data, threads=1)
    for key in ("accuracy", "in_scope_accuracy", "oos_recall", "oos_precision"):
        assert metrics[key] is None or isinstance(metrics[key], float), key
    for key in ("latency_ms_p50", "latency_ms_p95", "throughput_per_s"):
        assert isinstance(metrics[key], float), key
    assert metrics["accuracy"] == 0.33333


def test_latency_of_no_texts_is_zero() -> None:
    latency = single_query_latency_ms(lambda texts: [], [])
    assert latency == {"latency_ms_p50": 0.0, "latency_ms_p95": 0.0}


# best label and confidence per row; rows 1-3 in scope (two right), rows 4-7 out of scope
ABSTAIN_GOLD = ["a", "b", "c", "oos", "oos", "oos", "oos"]
ABSTAIN_BEST = ["a", "b", "x", "a", "b", "c", "a"]
ABSTAIN_CONFIDENCE = [0.9, 0.5, 0.8, 0.1, 0.2, 0.3, 0.95]


def test_unthresholded_accuracy_ignores_the_confidence() -> None:
    figures = abstention_metrics(ABSTAIN_GOLD, ABSTAIN_BEST, ABSTAIN_CONFIDENCE)
    assert figures["in_scope_accuracy_unthresholded"] == 0.66667


def test_each_oos_recall_point_uses_the_lowest_threshold_that_reaches_it() -> None:
    figures = abstention_metrics(ABSTAIN_GOLD, ABSTAIN_BEST, ABSTAIN_CONFIDENCE)
    at_75, at_90 = figures["oos_recall_curve"]
    # three of four oos rows (0.1, 0.2, 0.3) rejected: every in-scope row is kept
    assert at_75["oos_recall"] == 0.75 and 0.3 < at_75["threshold"] < 0.31
    assert at_75["in_scope_accuracy"] == 0.66667 and at_75["in_scope_rejected"] == 0.0
    # 90 % needs all four (the last at 0.95): every in-scope row goes too
    assert at_90["oos_recall"] == 1.0
    assert at_90["in_scope_accuracy"] == 0.0 and at_90["in_scope_rejected"] == 1.0
    assert figures["in_scope_accuracy_at_oos_recall_0.75"] == 0.66667
    assert figures["in_scope_accuracy_at_oos_recall_0.90"] == 0.0


def test_without_oos_rows_there_is_no_curve() -> None:
    figures = abstention_metrics(["a", "b"], ["a", "c"], [0.9, 0.1])
    assert figures == {"in_scope_accuracy_unthresholded": 0.5}
