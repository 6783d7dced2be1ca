"""``WorkerAgent``: answers one task with its knowledge collection and its model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from smolit.agents.spec import AgentSpec
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.models.catalog import ResolvedModel


class SearchHitLike(Protocol):
    document_id: str
    title: str
    source: str
    text: str
    score: float


class KnowledgeSearch(Protocol):
    async def search(self, collection: str, query: str, top_k: int | None = None) -> list[Any]: ...


class ModelGenerator(Protocol):
    async def generate(
        self,
        model: ResolvedModel | str | None,
        messages: list[ChatMessage],
        params: GenerationParams,
        cache: bool = False,
    ) -> GenerationResult: ...


@dataclass(frozen=True)
class AgentResult:
    agent: str
    model: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


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


class WorkerAgent:
    def __init__(
        self,
        spec: AgentSpec,
        knowledge: KnowledgeSearch,
        models: ModelGenerator,
        top_k: int = 3,
        params: GenerationParams | None = None,
        model: ResolvedModel | None = None,
    ) -> None:
        """``model``: ``spec.model`` resolved already (else the models resolve it)."""
        self.spec = spec
        self._knowledge = knowledge
        self._models = models
        self._top_k = top_k
        self._params = params or GenerationParams()
        self._model = model

    async def run(self, task: str) -> AgentResult:
        timings: dict[str, float] = {}
        hits: list[SearchHitLike] = []
        if self.spec.knowledge_collection and self._top_k > 0:
            started = time.perf_counter()
            hits = await self._knowledge.search(self.spec.knowledge_collection, task, self._top_k)
            timings["knowledge_seconds"] = time.perf_counter() - started
        messages = build_messages(self.spec, task, hits)
        started = time.perf_counter()
        result = await self._models.generate(
            self._model or self.spec.model,
            messages,
            self._params,
            cache=self.spec.cache_responses,
        )
        timings["model_seconds"] = time.perf_counter() - started
        sources = [
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
        return AgentResult(
            agent=self.spec.name,
            model=result.model,
            answer=result.text.strip(),
            sources=sources,
            timings=timings,
            usage={
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            },
        )
