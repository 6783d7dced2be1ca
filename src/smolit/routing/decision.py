"""``RouteDecision``: what the router decided, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AgentScore:
    agent: str
    score: float
    available: bool = True


@dataclass(frozen=True)
class RouteDecision:
    """The chosen agent (None when out of scope), each candidate's score, the confidence."""

    agent: str | None
    scores: tuple[AgentScore, ...]
    confidence: float
    out_of_scope: bool
    router: str
    threshold: float
    seconds: float = 0.0
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def fallbacks(self) -> list[str]:
        """Available agents other than the chosen one that clear the threshold, best first."""
        ordered = sorted(self.scores, key=lambda s: s.score, reverse=True)
        return [
            s.agent
            for s in ordered
            if s.available and s.agent != self.agent and s.score >= self.threshold
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "confidence": round(self.confidence, 4),
            "out_of_scope": self.out_of_scope,
            "router": self.router,
            "threshold": self.threshold,
            "reason": self.reason,
            "seconds": round(self.seconds, 6),
            "scores": [
                {"agent": s.agent, "score": round(s.score, 4), "available": s.available}
                for s in sorted(self.scores, key=lambda s: s.score, reverse=True)
            ],
            **self.extra,
        }
