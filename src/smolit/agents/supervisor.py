"""``Supervisor``: asks the router, checks availability, runs the agent, falls back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from smolit.agents.registry import AgentRegistry
from smolit.agents.spec import AgentSpec
from smolit.agents.worker import AgentResult, KnowledgeSearch, ModelGenerator, WorkerAgent
from smolit.errors import AgentUnavailableError, ModelError
from smolit.models.base import GenerationParams
from smolit.routing.base import Router
from smolit.routing.decision import RouteDecision

logger = logging.getLogger(__name__)

OUT_OF_SCOPE_ANSWER = "No agent can handle this task."


class ModelPool(ModelGenerator, Protocol):
    def check(self, name: str | None) -> str | None: ...

    def default_params(self, name: str | None = None) -> GenerationParams: ...


@dataclass(frozen=True)
class SupervisorOutcome:
    decision: RouteDecision
    result: AgentResult | None
    failures: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def out_of_scope(self) -> bool:
        return self.result is None

    def answer(self) -> str:
        if self.result is not None:
            return self.result.answer
        return f"{OUT_OF_SCOPE_ANSWER} {self.decision.reason}".strip()


class Supervisor:
    def __init__(
        self,
        registry: AgentRegistry,
        router: Router,
        models: ModelPool,
        knowledge: KnowledgeSearch,
        top_k: int = 3,
        max_fallbacks: int = 2,
        served: Callable[[], set[str]] | None = None,
    ) -> None:
        """``served``, in the distributed mode: the agents some live worker advertises."""
        self._registry = registry
        self._router = router
        self._models = models
        self._knowledge = knowledge
        self._top_k = top_k
        self._max_fallbacks = max_fallbacks
        self._served = served

    def unavailable_reason(self, spec: AgentSpec) -> str | None:
        if not spec.enabled:
            return "disabled"
        return self._models.check(spec.model)

    def local_availability(self) -> dict[str, str | None]:
        """Each agent and why this process cannot run it (None when it can)."""
        return {spec.name: self.unavailable_reason(spec) for spec in self._registry.list()}

    def availability(self) -> dict[str, str | None]:
        """Each agent's name and why it cannot take work (None when it can); in the
        distributed mode an agent no live worker advertises cannot."""
        reasons = self.local_availability()
        if self._served is None:
            return reasons
        served = self._served()
        return {
            name: reason if reason or name in served else "no live worker serves it"
            for name, reason in reasons.items()
        }

    def worker(self, spec: AgentSpec) -> WorkerAgent:
        params = self._models.default_params(spec.model)
        return WorkerAgent(spec, self._knowledge, self._models, self._top_k, params)

    async def handle(
        self, text: str, on_route: Callable[[RouteDecision], Awaitable[None]] | None = None
    ) -> SupervisorOutcome:
        """Route ``text`` and run the chosen agent; ``on_route`` hears the decision first."""
        started = time.perf_counter()
        # model references may be resolved in the registry (a database read): off the loop
        reasons = await asyncio.to_thread(self.availability)
        available = {name for name, reason in reasons.items() if reason is None}
        decision = await self._router.aroute(text, available)
        timings = {"routing_seconds": time.perf_counter() - started}
        if on_route is not None:
            await on_route(decision)
        if decision.out_of_scope or decision.agent is None:
            return SupervisorOutcome(decision, None, timings=timings)
        candidates = [decision.agent, *decision.fallbacks()[: self._max_fallbacks]]
        failures: list[dict[str, str]] = []
        for name in candidates:
            try:
                result = await self.worker(self._registry.get(name)).run(text)
            except (ModelError, AgentUnavailableError) as exc:
                logger.warning("agent %s failed: %s", name, exc.message)
                failures.append({"agent": name, "error": exc.message})
                continue
            timings["total_seconds"] = time.perf_counter() - started
            return SupervisorOutcome(decision, result, failures, timings)
        raise AgentUnavailableError(
            "every candidate agent failed: "
            + "; ".join(f"{f['agent']}: {f['error']}" for f in failures),
            details={"failures": failures},
        )
