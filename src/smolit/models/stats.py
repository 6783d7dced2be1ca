"""Performance tracking per model version: requests, errors, latency, tokens, cost.

``ModelStats`` keeps counters since the process started and the last ``WINDOW`` latencies
(and times to first token) for percentiles. Task success rates come from task feedback in
the database (``task_success_by_model``), so they survive restarts and cover every process.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select

from smolit.config import ModelDefinition
from smolit.models.base import GenerationResult
from smolit.stats import percentile
from smolit.storage import Database, TaskFeedbackRow, TaskRow

WINDOW = 2048


@dataclass
class _Counters:
    requests: int = 0
    errors: int = 0
    streamed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    cost: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    first_token: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))


class ModelStats:
    def __init__(self) -> None:
        self._by_key: dict[str, _Counters] = {}
        self._lock = threading.Lock()

    def record(
        self,
        key: str,
        definition: ModelDefinition,
        seconds: float,
        result: GenerationResult | None,
        *,
        streamed: bool = False,
    ) -> None:
        """One call of ``key``: its wall time and result (None when it failed)."""
        with self._lock:
            counters = self._by_key.setdefault(key, _Counters())
            counters.requests += 1
            counters.streamed += streamed
            counters.latencies.append(seconds)
            if result is None:
                counters.errors += 1
                return
            counters.prompt_tokens += result.prompt_tokens
            counters.completion_tokens += result.completion_tokens
            counters.generation_seconds += result.seconds or seconds
            counters.cost += (
                result.prompt_tokens * definition.cost_per_1k_prompt_tokens
                + result.completion_tokens * definition.cost_per_1k_completion_tokens
            ) / 1000
            if result.first_token_seconds is not None:
                counters.first_token.append(result.first_token_seconds)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._by_key)

    def snapshot(self, key: str) -> dict[str, Any]:
        """Counters and percentiles of ``key`` (zeros when it was never called)."""
        with self._lock:
            c = self._by_key.get(key, _Counters())
            latencies, first = list(c.latencies), list(c.first_token)
            tokens = c.prompt_tokens + c.completion_tokens
            return {
                "requests": c.requests,
                "errors": c.errors,
                "error_rate": round(c.errors / c.requests, 4) if c.requests else 0.0,
                "streamed": c.streamed,
                "latency_ms_p50": _ms(percentile(latencies, 0.5)),
                "latency_ms_p95": _ms(percentile(latencies, 0.95)),
                "first_token_ms_p50": _ms(percentile(first, 0.5)),
                "first_token_ms_p95": _ms(percentile(first, 0.95)),
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "tokens_per_s": (
                    round(c.completion_tokens / c.generation_seconds, 2)
                    if c.generation_seconds > 0
                    else None
                ),
                "cost": round(c.cost, 6),
                "cost_per_1k_tokens": round(1000 * c.cost / tokens, 6) if tokens else None,
            }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def task_success_by_model(database: Database) -> dict[str, dict[str, Any]]:
    """Per model key (as tasks record it): rated tasks, successes and the success rate.

    A rated task counts as a success when its feedback value (success flag and/or rating,
    mapped to 0..1) is at least 0.5.
    """
    query = (
        select(
            TaskRow.model,
            func.count(TaskFeedbackRow.task_id),
            func.sum(case((TaskFeedbackRow.value >= 0.5, 1), else_=0)),
        )
        .join(TaskFeedbackRow, TaskFeedbackRow.task_id == TaskRow.id)
        .where(TaskRow.model.is_not(None))
        .group_by(TaskRow.model)
    )
    with database.session() as session:
        rows = session.execute(query).all()
    return {
        str(model): {
            "rated_tasks": int(rated),
            "successes": int(successes or 0),
            "task_success_rate": round(int(successes or 0) / int(rated), 4) if rated else None,
        }
        for model, rated, successes in rows
    }
