"""``Supervisor``: asks the router, checks availability, runs the agent, falls back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smolit.agents.registry import AgentRegistry
from smolit.agents.spec import AgentSpec
from smolit.agents.tool_records import ToolJournal
from smolit.agents.tool_selection import ToolSelector
from smolit.agents.toolbox import AgentToolbox
from smolit.agents.worker import AgentResult, KnowledgeSearch, ModelGenerator, WorkerAgent
from smolit.errors import AgentUnavailableError, ModelError, SmolitError
from smolit.models.base import GenerationParams
from smolit.models.catalog import ResolvedModel
from smolit.routing.base import Router
from smolit.routing.decision import RouteDecision

logger = logging.getLogger(__name__)

OUT_OF_SCOPE_ANSWER = "No agent can handle this task."


class AgentModels(ModelGenerator, Protocol):
    """What the supervisor needs of the models (``ModelManager``)."""

    def resolve(self, model: str | None) -> ResolvedModel: ...

    def check(self, model: ResolvedModel) -> str | None: ...

    def default_params(self, model: ResolvedModel) -> GenerationParams: ...


#: an agent's model, resolved once for a task, or why the agent cannot run
AgentModel = ResolvedModel | str


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
        models: AgentModels,
        knowledge: KnowledgeSearch,
        top_k: int = 3,
        max_fallbacks: int = 2,
        served: Callable[[], set[str]] | None = None,
        toolbox: AgentToolbox | None = None,
        tool_selector: ToolSelector | None = None,
    ) -> None:
        """``served``, in the distributed mode: the agents some live worker advertises.
        ``toolbox``: the tools agents may call (none: only the built-ins);
        ``tool_selector``: shortlists tools for agents whose ``tool_choice`` asks it."""
        self._registry = registry
        self.toolbox = toolbox if toolbox is not None else AgentToolbox()
        self.tool_selector = tool_selector
        self._router = router
        self._models = models
        self._knowledge = knowledge
        self._top_k = top_k
        self._max_fallbacks = max_fallbacks
        self._served = served

    def unavailable_reason(self, spec: AgentSpec) -> str | None:
        model = self._agent_models([spec])[spec.name]
        return model if isinstance(model, str) else None

    def _agent_models(self, specs: list[AgentSpec]) -> dict[str, AgentModel]:
        """Each agent's model, each reference resolved once, or why the agent cannot run."""
        by_reference: dict[str | None, AgentModel] = {}
        found: dict[str, AgentModel] = {}
        for spec in specs:
            if not spec.enabled:
                found[spec.name] = "disabled"
                continue
            if spec.model not in by_reference:
                by_reference[spec.model] = self._resolve(spec.model)
            found[spec.name] = by_reference[spec.model]
        return found

    def _resolve(self, reference: str | None) -> AgentModel:
        try:
            model = self._models.resolve(reference)
        except SmolitError as exc:
            return exc.message
        return self._models.check(model) or model

    def local_availability(self) -> dict[str, str | None]:
        """Each agent and why this process cannot run it (None when it can)."""
        return _reasons(self._agent_models(self._registry.list()))

    def availability(self) -> dict[str, str | None]:
        """Each agent's name and why it cannot take work (None when it can); in the
        distributed mode an agent no live worker advertises cannot."""
        return self._served_only(self.local_availability())

    def _served_only(self, reasons: dict[str, str | None]) -> dict[str, str | None]:
        if self._served is None:
            return reasons
        served = self._served()
        return {
            name: reason if reason or name in served else "no live worker serves it"
            for name, reason in reasons.items()
        }

    def _task_models(self) -> tuple[dict[str, AgentModel], dict[str, str | None]]:
        """The agents' models for one task, and each agent's availability."""
        models = self._agent_models(self._registry.list())
        return models, self._served_only(_reasons(models))

    def worker(
        self, spec: AgentSpec, model: ResolvedModel | None = None, *, delegated: bool = False
    ) -> WorkerAgent:
        """The agent ``spec`` on ``model`` (resolved for the task; else resolved now).
        An agent ``delegated`` a question cannot delegate it further."""
        chosen = model if model is not None else self._models.resolve(spec.model)
        params = self._models.default_params(chosen)
        peers = [] if delegated else self._peers(spec)
        tools = self.toolbox.tools_for(
            spec, self._knowledge, None if delegated else self._delegate, peers
        )
        return WorkerAgent(
            spec,
            self._knowledge,
            self._models,
            self._top_k,
            params,
            chosen,
            tools=tools,
            bounds=self.toolbox.bounds_for(spec),
            selector=self.tool_selector,
        )

    def _peers(self, spec: AgentSpec) -> list[tuple[str, str]]:
        """The agents ``spec`` may delegate to: every other enabled agent."""
        if "delegate" not in spec.tool_names():
            return []
        return [
            (other.name, other.description)
            for other in self._registry.list()
            if other.enabled and other.name != spec.name
        ]

    async def _delegate(self, name: str, question: str) -> dict[str, Any]:
        """Agent ``name`` answers ``question`` (the ``delegate`` tool); it runs without
        ``delegate`` itself, so delegation is one level deep."""
        spec = await asyncio.to_thread(self._registry.get, name)
        reason = await asyncio.to_thread(self.unavailable_reason, spec)
        if reason is not None:
            raise AgentUnavailableError(f"agent {name!r} cannot answer now: {reason}")
        result = await self.worker(spec, delegated=True).run(question)
        return {
            "agent": result.agent,
            "answer": result.answer,
            "sources": [
                {"title": source["title"], "source": source["source"]} for source in result.sources
            ],
            "tool_calls": [call["name"] for call in result.tool_calls],
        }

    async def handle(
        self,
        text: str,
        on_route: Callable[[RouteDecision], Awaitable[None]] | None = None,
        journal: ToolJournal | None = None,
    ) -> SupervisorOutcome:
        """Route ``text`` and run the chosen agent; ``on_route`` hears the decision first;
        ``journal`` records the agent's tool calls durably (a task's run).

        Each agent's model is resolved once for the task: the version its availability
        was checked on is the version that answers."""
        started = time.perf_counter()
        # model references may be resolved in the registry (a database read): off the loop
        models, reasons = await asyncio.to_thread(self._task_models)
        available = {name for name, reason in reasons.items() if reason is None}
        decision = await self._router.route(text, available)
        timings = {"routing_seconds": time.perf_counter() - started}
        if on_route is not None:
            await on_route(decision)
        if decision.out_of_scope or decision.agent is None:
            return SupervisorOutcome(decision, None, timings=timings)
        candidates = [decision.agent, *decision.fallbacks()[: self._max_fallbacks]]
        failures: list[dict[str, str]] = []
        for name in candidates:
            try:
                model = models.get(name)
                resolved = model if isinstance(model, ResolvedModel) else None
                worker = self.worker(self._registry.get(name), resolved)
                result = await worker.run(text, journal)
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


def _reasons(models: dict[str, AgentModel]) -> dict[str, str | None]:
    return {name: model if isinstance(model, str) else None for name, model in models.items()}
