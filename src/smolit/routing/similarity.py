"""The embedding-similarity router: the baseline the neural router must beat.

An agent's score is a blend of the cosine between the task and the agent's description,
and the best cosine between the task and any of its example tasks. Below the
out-of-scope threshold no agent is chosen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from smolit.agents.spec import AgentSpec
from smolit.errors import RoutingError, ValidationError
from smolit.routing.base import Router
from smolit.routing.decision import AgentScore, RouteDecision
from smolit.routing.encoder import TextEncoder


@dataclass
class _AgentVectors:
    fingerprint: str
    description: torch.Tensor  # (d,)
    examples: torch.Tensor  # (n, d), n may be 0


class SimilarityRouter(Router):
    name = "similarity"

    def __init__(
        self, encoder: TextEncoder, threshold: float = 0.35, description_weight: float = 0.3
    ) -> None:
        self._encoder = encoder
        self.threshold = threshold
        self.description_weight = description_weight
        self._vectors: dict[str, _AgentVectors] = {}
        self._lock = threading.Lock()

    def set_agents(self, agents: Sequence[AgentSpec]) -> None:
        with self._lock:
            current = dict(self._vectors)
        updated: dict[str, _AgentVectors] = {}
        for agent in agents:
            known = current.get(agent.name)
            if known is not None and known.fingerprint == agent.routing_fingerprint:
                updated[agent.name] = known
                continue
            vectors = self._encoder.encode([agent.description, *agent.examples])
            updated[agent.name] = _AgentVectors(
                fingerprint=agent.routing_fingerprint,
                description=vectors[0],
                examples=vectors[1:],
            )
        with self._lock:
            self._vectors = updated

    def _score(self, query: torch.Tensor, vectors: _AgentVectors) -> float:
        description = float(vectors.description @ query)
        if vectors.examples.shape[0] == 0:
            return description
        best_example = float((vectors.examples @ query).max())
        weight = self.description_weight
        return weight * description + (1 - weight) * best_example

    def route(self, text: str, available: set[str] | None = None) -> RouteDecision:
        if not text or not text.strip():
            raise ValidationError("task text is empty")
        started = time.perf_counter()
        with self._lock:
            agents = dict(self._vectors)
        if not agents:
            raise RoutingError("no agents are configured")
        query = self._encoder.encode([text])[0]
        scores = tuple(
            AgentScore(
                agent=name,
                score=self._score(query, vectors),
                available=available is None or name in available,
            )
            for name, vectors in agents.items()
        )
        candidates = [s for s in scores if s.available]
        best = max(candidates, key=lambda s: s.score, default=None)
        elapsed = time.perf_counter() - started
        if best is None:
            return RouteDecision(
                None,
                scores,
                0.0,
                True,
                self.name,
                self.threshold,
                elapsed,
                reason="no agent is available",
            )
        if best.score < self.threshold:
            return RouteDecision(
                None,
                scores,
                best.score,
                True,
                self.name,
                self.threshold,
                elapsed,
                reason=f"best score {best.score:.3f} is below the threshold {self.threshold}",
            )
        return RouteDecision(
            best.agent,
            scores,
            best.score,
            False,
            self.name,
            self.threshold,
            elapsed,
            reason=f"highest similarity to {best.agent}'s description and examples",
        )
