"""Evaluating a router on labelled data: accuracy, out-of-scope detection, speed."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from smolit.routing.data import OOS_LABEL, LabelledData
from smolit.stats import percentile

Predict = Callable[[list[str]], Sequence[str]]


def classification_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy with ``oos`` as a class, in-scope accuracy, out-of-scope recall/precision."""
    pairs = list(zip(gold, predicted, strict=True))
    in_scope = [(g, p) for g, p in pairs if g != OOS_LABEL]
    oos_gold = [p for g, p in pairs if g == OOS_LABEL]
    oos_predicted = [g for g, p in pairs if p == OOS_LABEL]

    def share(hits: int, total: int) -> float | None:
        return round(hits / total, 5) if total else None

    return {
        "rows": len(pairs),
        "in_scope_rows": len(in_scope),
        "oos_rows": len(oos_gold),
        "accuracy": share(sum(g == p for g, p in pairs), len(pairs)),
        "in_scope_accuracy": share(sum(g == p for g, p in in_scope), len(in_scope)),
        "oos_recall": share(sum(p == OOS_LABEL for p in oos_gold), len(oos_gold)),
        "oos_precision": share(sum(g == OOS_LABEL for g in oos_predicted), len(oos_predicted)),
        "in_scope_rejected": share(sum(p == OOS_LABEL for _, p in in_scope), len(in_scope)),
    }


#: the out-of-scope recalls whose in-scope cost ``abstention_metrics`` reports
OOS_RECALL_POINTS = (0.75, 0.90)


def abstention_metrics(
    gold: Sequence[str], best: Sequence[str], confidence: Sequence[float]
) -> dict[str, Any]:
    """What abstention costs: in-scope accuracy of the best label alone (no threshold),
    and, when ``gold`` has ``oos`` rows, the in-scope accuracy and rejection at the lowest
    threshold that rejects each share of ``OOS_RECALL_POINTS`` of them (a text is kept
    when its confidence is at least the threshold, as the router serves it)."""
    rows = list(zip(gold, best, confidence, strict=True))
    in_scope = [(g == b, c) for g, b, c in rows if g != OOS_LABEL]
    oos = sorted(c for g, _, c in rows if g == OOS_LABEL)
    figures: dict[str, Any] = {
        "in_scope_accuracy_unthresholded": (
            round(sum(right for right, _ in in_scope) / len(in_scope), 5) if in_scope else None
        )
    }
    if not oos or not in_scope:
        return figures
    curve = []
    for recall in OOS_RECALL_POINTS:
        rejected = math.ceil(recall * len(oos) - 1e-9)  # at least this many oos rows
        threshold = math.nextafter(oos[rejected - 1], math.inf)
        kept = [right for right, c in in_scope if c >= threshold]
        curve.append(
            {
                "oos_recall": round(sum(c < threshold for c in oos) / len(oos), 5),
                "threshold": threshold,  # unrounded: it sits just above an oos confidence
                "in_scope_accuracy": round(sum(kept) / len(in_scope), 5),
                "in_scope_rejected": round(1 - len(kept) / len(in_scope), 5),
            }
        )
        figures[f"in_scope_accuracy_at_oos_recall_{recall:.2f}"] = curve[-1]["in_scope_accuracy"]
    figures["oos_recall_curve"] = curve
    return figures


def single_query_latency_ms(
    predict: Predict, texts: list[str], samples: int = 300
) -> dict[str, float]:
    """p50/p95 of one decision at a time, on one torch thread, encoding included."""
    chosen = random.Random(0).choices(texts, k=samples) if texts else []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for text in chosen[:10]:  # warm-up
            predict([text])
        timings = []
        for text in chosen:
            started = time.perf_counter()
            predict([text])
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        torch.set_num_threads(previous)
    return {
        "latency_ms_p50": round(percentile(timings, 0.5) or 0.0, 3),
        "latency_ms_p95": round(percentile(timings, 0.95) or 0.0, 3),
    }


def batched_throughput(predict: Predict, texts: list[str], threads: int) -> float:
    """Decisions per second when ``texts`` are routed in one call."""
    if not texts:
        return 0.0
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        predict(texts[:64])
        started = time.perf_counter()
        predict(texts)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)
    return round(len(texts) / max(seconds, 1e-9), 1)


def evaluate(predict: Predict, test: LabelledData, threads: int = 2) -> dict[str, Any]:
    started = time.perf_counter()
    predicted = list(predict(test.texts))
    metrics = classification_metrics(test.labels, predicted)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    metrics.update(single_query_latency_ms(predict, test.texts))
    metrics["throughput_per_s"] = batched_throughput(predict, test.texts, threads)
    metrics["throughput_threads"] = threads
    return metrics
