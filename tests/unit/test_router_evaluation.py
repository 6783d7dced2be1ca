"""Router evaluation: classification metrics by hand, and the shape of ``evaluate``."""

from __future__ import annotations

from smolit.routing.data import LabelledData
from smolit.routing.evaluation import classification_metrics, evaluate, single_query_latency_ms

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
