"""``WorkerAgent``: answers one task with its knowledge collection, its model and, when
it lists tools, the tool-calling loop (``smolit.agents.tool_loop``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smolit.agents.protocols import KnowledgeSearch, ModelGenerator, SearchHitLike
from smolit.agents.spec import AgentSpec
from smolit.agents.tool_loop import ToolLoop
from smolit.agents.tool_records import ToolJournal
from smolit.agents.tool_selection import ToolSelector
from smolit.agents.toolbox import AgentTool, LoopBounds
from smolit.models.base import ChatMessage, GenerationParams
from smolit.models.catalog import ResolvedModel

__all__ = [
    "AgentResult",
    "KnowledgeSearch",
    "ModelGenerator",
    "SearchHitLike",
    "WorkerAgent",
    "build_messages",
]


@dataclass(frozen=True)
class AgentResult:
    agent: str
    model: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    #: every tool call of the run (``ToolCallEntry.to_dict``), in order
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


CONTEXT_CHARS_PER_SOURCE = 900


def build_messages(spec: AgentSpec, task: str, hits: list[SearchHitLike]) -> list[ChatMessage]:
    """The system prompt, the retrieved context (numbered, for citations) and the task."""
    system = spec.system_prompt
    if hits:
        context = "\n\n".join(
            f"[{i}] {hit.title}\n{hit.text[:CONTEXT_CHARS_PER_SOURCE]}"
            for i, hit in enumerate(hits, start=1)
        )
        system = f"{system}\n\nUse this context when it helps:\n{context}"
    return [ChatMessage("system", system), ChatMessage("user", task)]


def _sources(hits: list[SearchHitLike]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "document_id": hit.document_id,
            "title": hit.title,
            "source": hit.source,
            "score": round(float(hit.score), 6),
            "excerpt": hit.text[:300],
        }
        for i, hit in enumerate(hits, start=1)
    ]


class WorkerAgent:
    def __init__(
        self,
        spec: AgentSpec,
        knowledge: KnowledgeSearch,
        models: ModelGenerator,
        top_k: int = 3,
        params: GenerationParams | None = None,
        model: ResolvedModel | None = None,
        tools: Sequence[AgentTool] = (),
        bounds: LoopBounds | None = None,
        selector: ToolSelector | None = None,
    ) -> None:
        """``model``: ``spec.model`` resolved already (else the models resolve it).
        ``tools``: what the agent may call in this run (none: one generation)."""
        self.spec = spec
        self._knowledge = knowledge
        self._models = models
        self._top_k = top_k
        self._params = params or GenerationParams()
        self._model = model
        self._tools = list(tools)
        self._bounds = bounds or LoopBounds()
        self._selector = selector

    async def run(self, task: str, journal: ToolJournal | None = None) -> AgentResult:
        """Answer ``task``; ``journal`` records the tool calls durably (a task's run)."""
        timings: dict[str, float] = {}
        hits: list[SearchHitLike] = []
        if self.spec.knowledge_collection and self._top_k > 0:
            started = time.perf_counter()
            hits = await self._knowledge.search(self.spec.knowledge_collection, task, self._top_k)
            timings["knowledge_seconds"] = time.perf_counter() - started
        messages = build_messages(self.spec, task, hits)
        if self._tools:
            return await self._run_with_tools(task, messages, hits, timings, journal)
        started = time.perf_counter()
        result = await self._models.generate(
            self._model or self.spec.model,
            messages,
            self._params,
            cache=self.spec.cache_responses,
        )
        timings["model_seconds"] = time.perf_counter() - started
        return AgentResult(
            agent=self.spec.name,
            model=result.model,
            answer=result.text.strip(),
            sources=_sources(hits),
            timings=timings,
            usage={
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            },
        )

    async def _run_with_tools(
        self,
        task: str,
        messages: list[ChatMessage],
        hits: list[SearchHitLike],
        timings: dict[str, float],
        journal: ToolJournal | None,
    ) -> AgentResult:
        loop = ToolLoop(
            self.spec,
            self._tools,
            self._models,
            self._model or self.spec.model,
            self._params,
            self._bounds,
            self._selector,
            journal,
        )
        outcome = await loop.run(task, messages)
        timings["model_seconds"] = outcome.model_seconds
        timings["tool_seconds"] = outcome.tool_seconds
        return AgentResult(
            agent=self.spec.name,
            model=outcome.result.model,
            answer=outcome.answer,
            sources=_sources(hits),
            timings=timings,
            usage={
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
            },
            tool_calls=[entry.to_dict() for entry in outcome.calls],
        )
