"""``NeuralRouter``: the learned router the Supervisor uses by default.

Every agent contributes skill prototypes, so agents come and go without retraining:

- each named skill of the agent (its examples, mean-embedded with the router's encoder;
  with the untrained base encoder each example is a prototype of its skill too),
- its description and plain examples, as one more skill named after the agent,
- the trained labels of the checkpoint whose name is the agent's name or one of its skill
  names, scored as the checkpoint scores them (by their nearest training examples where it
  keeps them, on the scale of a prototype cosine; else by their trained prototype).

A task is embedded once; its cosine with every prototype (or trained label score) gives the
confidence (the best one, less the task's similarity to the out-of-scope examples the
checkpoint was trained with, if any; below the calibrated threshold the task is out of
scope) and,
through a softmax at the trained scale, a fit probability per agent (the sum over its
skills). The
``FeedbackLearner`` then picks among the plausible agents using what feedback has taught it
about each agent on this kind of task (the best skill is the context), exploring a little
so that a better agent is found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from smolit.errors import RoutingError, ValidationError
from smolit.routing.base import Router
from smolit.routing.decision import AgentScore, RouteDecision
from smolit.routing.neural.model import RouterModel
from smolit.routing.online import FeedbackLearner
from smolit.routing.profile import AgentProfile, routing_fingerprint, skill_texts


@dataclass(frozen=True)
class _SkillTable:
    names: list[str]  # "agent/skill"
    owners: list[str]  # agent of each row
    vectors: torch.Tensor  # (skills, d) in the full encoder's space
    static_vectors: torch.Tensor | None  # (skills, d') in the cheap stage's space
    agents: list[str]
    owner_index: torch.Tensor  # (skills,) index into agents
    trained_rows: torch.Tensor  # rows that are trained labels of the model ...
    trained_labels: torch.Tensor  # ... and which label each of them is
    model: RouterModel  # the model these prototypes were made with
    version: str


@dataclass(frozen=True)
class _Row:
    skill: str
    vector: torch.Tensor
    static_vector: torch.Tensor | None
    trained: int | None = None  # index of the model's trained label this row is


class NeuralRouter(Router):
    name = "neural"

    def __init__(
        self,
        model: RouterModel,
        learner: FeedbackLearner,
        version: str = "base",
        explore: bool = True,
    ) -> None:
        self.model = model
        self.learner = learner
        self.version = version
        self.explore = explore
        self._table: _SkillTable | None = None
        self._cache: dict[str, tuple[str, list[_Row]]] = {}
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def replace_model(
        self, model: RouterModel, version: str, agents: Sequence[AgentProfile]
    ) -> None:
        """Serve another checkpoint; routing switches only once its prototypes are ready."""
        with self._lock:
            self.model = model
            self.version = version
            self._cache = {}
        self.set_agents(agents)

    def _agent_prototypes(self, agent: AgentProfile) -> list[_Row]:
        """One row per skill centroid (in both cascade stages); with an untrained encoder,
        whose space was not shaped by the routing task, one per example as well."""
        fingerprint = routing_fingerprint(agent)
        cached = self._cache.get(agent.name)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        static = self.model.static
        rows: list[_Row] = []
        for skill, texts in skill_texts(agent).items():
            vectors = self.model.encode(texts)
            static_vector = (
                F.normalize(static.encoder.encode(texts).mean(0), dim=-1) if static else None
            )
            rows.append(_Row(skill, F.normalize(vectors.mean(0), dim=-1), static_vector))
            if not self.model.labels and len(texts) > 1:
                rows.extend(_Row(skill, vector, None) for vector in vectors)
        trained = self.model.label_index
        for label in sorted({agent.name, *agent.skills}):
            if label in trained:
                index = trained[label]
                static_vector = static.prototypes[index] if static else None
                rows.append(_Row(label, self.model.prototypes[index], static_vector, index))
        self._cache[agent.name] = (fingerprint, rows)
        return rows

    def set_agents(self, agents: Sequence[AgentProfile]) -> None:
        rows: list[tuple[str, _Row]] = []
        with self._lock:
            for agent in agents:
                rows.extend((agent.name, row) for row in self._agent_prototypes(agent))
            present = {agent.name for agent in agents}
            self._cache = {k: v for k, v in self._cache.items() if k in present}
            owners = [owner for owner, _ in rows]
            ordered = list(dict.fromkeys(owners))
            position = {name: i for i, name in enumerate(ordered)}
            static_rows = [row.static_vector for _, row in rows]
            self._table = _SkillTable(
                names=[f"{owner}/{row.skill}" for owner, row in rows],
                owners=owners,
                vectors=torch.stack([row.vector for _, row in rows])
                if rows
                else torch.zeros((0, 1)),
                static_vectors=torch.stack(static_rows)  # type: ignore[arg-type]
                if rows and all(v is not None for v in static_rows)
                else None,
                agents=ordered,
                owner_index=torch.tensor([position[o] for o in owners], dtype=torch.long),
                trained_rows=torch.tensor(
                    [i for i, (_, row) in enumerate(rows) if row.trained is not None],
                    dtype=torch.long,
                ),
                trained_labels=torch.tensor(
                    [row.trained for _, row in rows if row.trained is not None], dtype=torch.long
                ),
                model=self.model,
                version=self.version,
            )
        for removed in set(self.learner.stats()) - present:
            self.learner.forget_agent(removed)

    def route_sync(self, text: str, available: set[str] | None = None) -> RouteDecision:
        if not text or not text.strip():
            raise ValidationError("task text is empty")
        started = time.perf_counter()
        table = self._table
        if table is None or not table.agents:
            raise RoutingError("no agents are configured")
        usable = torch.tensor([available is None or o in available for o in table.owners])
        model = table.model
        static = model.static
        if static is not None and table.static_vectors is not None and bool(usable.any()):
            cosines = _masked(static.encoder.encode([text])[0] @ table.static_vectors.T, usable)
            if bool(static.confident(cosines.unsqueeze(0))[0]):
                return self._decide(
                    cosines, static.scale, "static", table, usable, available, started
                )
        z = model.encode([text])
        cosines = (z @ table.vectors.T)[0]
        if model.neighbours is not None and len(table.trained_rows):
            cosines[table.trained_rows] = model.label_scores(z)[0, table.trained_labels]
        cosines = _masked(cosines, usable)
        penalty = float(model.out_of_scope_similarity(z)[0])
        return self._decide(
            cosines, model.scale, "full", table, usable, available, started, penalty
        )

    def _decide(
        self,
        cosines: torch.Tensor,
        scale: float,
        stage: str,
        table: _SkillTable,
        usable: torch.Tensor,
        available: set[str] | None,
        started: float,
        out_of_scope_similarity: float = 0.0,
    ) -> RouteDecision:
        probabilities = torch.softmax(scale * cosines, dim=0) * usable
        per_agent = torch.zeros(len(table.agents)).index_add_(0, table.owner_index, probabilities)
        scores = tuple(
            AgentScore(agent, float(per_agent[i]), available is None or agent in available)
            for i, agent in enumerate(table.agents)
        )
        best = int(cosines.argmax())
        confidence = float(cosines[best]) - out_of_scope_similarity
        skill = table.names[best]
        threshold = table.model.threshold
        extra: dict[str, object] = {"skill": skill, "stage": stage, "router_version": table.version}
        if out_of_scope_similarity:
            extra["out_of_scope_similarity"] = round(out_of_scope_similarity, 4)

        def decision(agent: str | None, reason: str) -> RouteDecision:
            return RouteDecision(
                agent,
                scores,
                confidence,
                agent is None,
                self.name,
                threshold,
                time.perf_counter() - started,
                reason,
                extra,
            )

        if not bool(usable.any()):
            return decision(None, "no agent is available")
        if stage == "full" and confidence < threshold:
            return decision(
                None,
                f"the closest skill ({skill}) matches at {float(cosines[best]):.3f}"
                + (
                    f" less {out_of_scope_similarity:.3f} for resembling known out-of-scope "
                    f"requests ({confidence:.3f})"
                    if out_of_scope_similarity
                    else ""
                )
                + f", below the out-of-scope threshold {threshold:.3f}",
            )
        fit = {s.agent: s.score for s in scores if s.available}
        choice = self.learner.choose(fit, skill, explore=self.explore)
        extra["explored"] = choice.explored
        reason = f"best matching skill {skill} (cosine {confidence:.3f}, {stage} encoder)"
        if choice.agent != table.owners[best]:
            reason += f"; feedback favours {choice.agent} for tasks like this"
        return decision(choice.agent, reason)

    def learn(self, agent: str, context: str | None, value: float, user: str | None = None) -> None:
        """Feedback on a finished task (``value`` in [0, 1]) moves future decisions."""
        self.learner.record(agent, context, value, user)


def _masked(cosines: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """Cosines with rows of unavailable agents pushed below any real value."""
    return torch.where(usable, cosines, torch.full_like(cosines, -2.0))
