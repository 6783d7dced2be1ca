"""``NeuralRouter``: the learned router the Supervisor uses by default.

Every agent contributes skill prototypes, so agents come and go without retraining:

- each named skill of the agent (its examples, mean-embedded with the router's encoder;
  with the untrained base encoder each example is a prototype of its skill too),
- its description and plain examples, as one more skill named after the agent,
- the trained prototypes of the checkpoint whose label is the agent's name or one of its
  skill names.

A task is embedded once; its cosine with every prototype gives the confidence (the best
cosine; below the calibrated threshold the task is out of scope) and, through a softmax at
the trained scale, a fit probability per agent (the sum over its skills). The
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

from smolit.agents.spec import AgentSpec
from smolit.errors import RoutingError, ValidationError
from smolit.routing.base import Router
from smolit.routing.decision import AgentScore, RouteDecision
from smolit.routing.neural.model import RouterModel
from smolit.routing.online import FeedbackLearner


@dataclass(frozen=True)
class _SkillTable:
    names: list[str]  # "agent/skill"
    owners: list[str]  # agent of each row
    vectors: torch.Tensor  # (skills, d)
    agents: list[str]
    owner_index: torch.Tensor  # (skills,) index into agents


def skill_texts(agent: AgentSpec) -> dict[str, list[str]]:
    """The texts behind each of an agent's skills (the general one holds the description)."""
    skills = {name: list(examples) for name, examples in agent.skills.items() if examples}
    skills[agent.name] = [agent.description, *agent.examples]
    return skills


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
        self._cache: dict[str, tuple[str, list[tuple[str, torch.Tensor]]]] = {}
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def replace_model(self, model: RouterModel, version: str) -> None:
        """Serve another checkpoint; call ``set_agents`` next to rebuild the prototypes."""
        with self._lock:
            self.model = model
            self.version = version
            self._cache = {}

    def _agent_prototypes(self, agent: AgentSpec) -> list[tuple[str, torch.Tensor]]:
        """(skill, vector) rows: each skill's centroid; with an untrained encoder, whose
        space was not shaped by the routing task, each example as well (nearest example)."""
        cached = self._cache.get(agent.name)
        if cached is not None and cached[0] == agent.routing_fingerprint:
            return cached[1]
        rows: list[tuple[str, torch.Tensor]] = []
        per_example = not self.model.labels
        for skill, texts in skill_texts(agent).items():
            vectors = self.model.encode(texts)
            rows.append((skill, F.normalize(vectors.mean(0), dim=-1)))
            if per_example and len(texts) > 1:
                rows.extend((skill, vector) for vector in vectors)
        trained = self.model.label_index
        for label in sorted({agent.name, *agent.skills}):
            if label in trained:
                rows.append((label, self.model.prototypes[trained[label]]))
        self._cache[agent.name] = (agent.routing_fingerprint, rows)
        return rows

    def set_agents(self, agents: Sequence[AgentSpec]) -> None:
        names, owners, vectors = [], [], []
        with self._lock:
            for agent in agents:
                for skill, vector in self._agent_prototypes(agent):
                    names.append(f"{agent.name}/{skill}")
                    owners.append(agent.name)
                    vectors.append(vector)
            present = {agent.name for agent in agents}
            self._cache = {k: v for k, v in self._cache.items() if k in present}
            ordered = list(dict.fromkeys(owners))
            position = {name: i for i, name in enumerate(ordered)}
            self._table = _SkillTable(
                names=names,
                owners=owners,
                vectors=torch.stack(vectors) if vectors else torch.zeros((0, 1)),
                agents=ordered,
                owner_index=torch.tensor([position[o] for o in owners], dtype=torch.long),
            )
        for removed in set(self.learner.stats()) - present:
            self.learner.forget_agent(removed)

    def route(self, text: str, available: set[str] | None = None) -> RouteDecision:
        if not text or not text.strip():
            raise ValidationError("task text is empty")
        started = time.perf_counter()
        table = self._table
        if table is None or not table.agents:
            raise RoutingError("no agents are configured")
        cosines = (self.model.encode([text]) @ table.vectors.T)[0]
        return self._decide(cosines, table, available, started)

    def _decide(
        self,
        cosines: torch.Tensor,
        table: _SkillTable,
        available: set[str] | None,
        started: float,
    ) -> RouteDecision:
        usable = torch.tensor([available is None or o in available for o in table.owners])
        masked = torch.where(usable, cosines, torch.full_like(cosines, -2.0))
        probabilities = torch.softmax(self.model.scale * masked, dim=0) * usable
        per_agent = torch.zeros(len(table.agents)).index_add_(0, table.owner_index, probabilities)
        scores = tuple(
            AgentScore(agent, float(per_agent[i]), available is None or agent in available)
            for i, agent in enumerate(table.agents)
        )
        best = int(masked.argmax())
        confidence = float(masked[best])
        skill = table.names[best]
        extra: dict[str, object] = {"skill": skill, "router_version": self.version}
        if not bool(usable.any()):
            return RouteDecision(
                None,
                scores,
                0.0,
                True,
                self.name,
                self.threshold,
                time.perf_counter() - started,
                "no agent is available",
                extra,
            )
        if confidence < self.threshold:
            reason = (
                f"the closest skill ({skill}) matches at {confidence:.3f}, below the "
                f"out-of-scope threshold {self.threshold:.3f}"
            )
            return RouteDecision(
                None,
                scores,
                confidence,
                True,
                self.name,
                self.threshold,
                time.perf_counter() - started,
                reason,
                extra,
            )
        fit = {s.agent: s.score for s in scores if s.available}
        choice = self.learner.choose(fit, skill, explore=self.explore)
        extra["explored"] = choice.explored
        reason = f"best matching skill {skill} (cosine {confidence:.3f})"
        if choice.agent != table.owners[best]:
            reason += f"; feedback favours {choice.agent} for tasks like this"
        return RouteDecision(
            choice.agent,
            scores,
            confidence,
            False,
            self.name,
            self.threshold,
            time.perf_counter() - started,
            reason,
            extra,
        )

    def learn(self, agent: str, context: str | None, value: float) -> None:
        """Feedback on a finished task (``value`` in [0, 1]) moves future decisions."""
        self.learner.record(agent, context, value)
