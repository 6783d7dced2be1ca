"""Per-version performance: counters, percentiles, cost, and task success from feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolit.config import ModelDefinition
from smolit.models.base import GenerationResult
from smolit.models.stats import ModelStats, task_success_by_model
from smolit.storage import Database, TaskFeedbackRow, TaskRow

PRICED = ModelDefinition(
    backend="fake", cost_per_1k_prompt_tokens=1.0, cost_per_1k_completion_tokens=3.0
)


def result(
    prompt: int, completion: int, seconds: float, first: float | None = None
) -> GenerationResult:
    return GenerationResult(
        "x", "m@1", prompt, completion, seconds=seconds, first_token_seconds=first
    )


def test_snapshot_counts_tokens_speed_cost_and_errors() -> None:
    stats = ModelStats()
    stats.record("m@1", PRICED, 1.0, result(100, 20, 1.0, first=0.1))
    stats.record("m@1", PRICED, 3.0, result(100, 40, 2.0, first=0.3))
    stats.record("m@1", PRICED, 0.5, None)
    snap = stats.snapshot("m@1")
    assert (snap["requests"], snap["errors"], snap["error_rate"]) == (3, 1, 0.3333)
    assert (snap["prompt_tokens"], snap["completion_tokens"]) == (200, 60)
    assert snap["tokens_per_s"] == 20.0  # 60 tokens in 3 s of generation
    assert snap["cost"] == pytest.approx(0.2 + 0.18)
    assert snap["cost_per_1k_tokens"] == pytest.approx(1000 * 0.38 / 260, abs=1e-6)
    assert (snap["latency_ms_p50"], snap["latency_ms_p95"]) == (1000.0, 3000.0)
    assert snap["first_token_ms_p50"] == 100.0
    assert stats.snapshot("never")["requests"] == 0


def test_task_success_rate_per_model_version_from_feedback(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'smolit.db'}")
    database.migrate()
    outcomes = [("a@1", 1.0), ("a@1", 0.0), ("a@1", 0.75), ("b@2", 0.25), ("c@1", None)]
    with database.session() as session:
        for i, (model, value) in enumerate(outcomes):
            session.add(
                TaskRow(
                    id=f"t{i}", text="x", status="succeeded", submitted_by="u", model=model,
                    out_of_scope=False, sources=[], timings={}, attempts=1, timeout=10,
                )
            )  # fmt: skip
            if value is not None:
                session.add(TaskFeedbackRow(task_id=f"t{i}", user="u", agent="x", value=value))
    rates = task_success_by_model(database)
    database.dispose()
    assert rates["a@1"] == {"rated_tasks": 3, "successes": 2, "task_success_rate": 0.6667}
    assert rates["b@2"]["task_success_rate"] == 0.0
    assert "c@1" not in rates
