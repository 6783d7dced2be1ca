"""The tools that work on the system itself, made for each agent's run:
``knowledge_search`` (the collections the agent may read) and ``delegate`` (another agent
answers a sub-question, through the Supervisor)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from smolit.tools.base import Tool, ToolResult, ToolSpec

KNOWLEDGE_SEARCH = "knowledge_search"
DELEGATE = "delegate"
#: the tools only the system can make; no tool source may take their names
BUILTIN_TOOLS = (KNOWLEDGE_SEARCH, DELEGATE)

MAX_TOP_K = 10
EXCERPT_CHARS = 900
MAX_QUESTION_CHARS = 4000


class Searchable(Protocol):
    async def search(self, collection: str, query: str, top_k: int | None = None) -> list[Any]: ...


def _hit(hit: Any) -> dict[str, Any]:
    return {
        "title": hit.title,
        "source": hit.source,
        "document_id": hit.document_id,
        "score": round(float(hit.score), 6),
        "text": hit.text[:EXCERPT_CHARS],
    }


class KnowledgeSearchTool(Tool):
    """Searches one of ``collections`` (the first by default) and returns the hits."""

    def __init__(self, knowledge: Searchable, collections: Sequence[str]) -> None:
        self._knowledge = knowledge
        self._collections = list(dict.fromkeys(collections))
        super().__init__(
            ToolSpec(
                name=KNOWLEDGE_SEARCH,
                description=(
                    "Search the knowledge base for passages about a query. Collections: "
                    + ", ".join(self._collections)
                    + ". Returns the best passages with their title, source and score."
                ),
                parameters={
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "minLength": 1, "maxLength": 2000},
                        "collection": {"type": "string", "enum": self._collections},
                        "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
                examples=("what do our documents say about this", "look it up in the manual"),
            )
        )

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        collection = arguments.get("collection", self._collections[0])
        top_k = int(arguments.get("top_k", 3))
        hits = await self._knowledge.search(collection, arguments["query"], top_k)
        return ToolResult({"collection": collection, "hits": [_hit(hit) for hit in hits]})


#: runs agent ``name`` on ``question``; its answer and sources as JSON data
Delegate = Callable[[str, str], Awaitable[dict[str, Any]]]


class DelegateTool(Tool):
    """Hands a sub-question to one of ``agents`` (name, description) and returns its
    answer. Not idempotent: the other agent may act through its own tools."""

    def __init__(self, agents: Sequence[tuple[str, str]], delegate: Delegate) -> None:
        self._delegate = delegate
        names = [name for name, _ in agents]
        listing = "; ".join(f"{name}: {description}" for name, description in agents)
        super().__init__(
            ToolSpec(
                name=DELEGATE,
                description=(
                    "Ask another agent a sub-question and get its answer. Agents: " + listing
                ),
                parameters={
                    "type": "object",
                    "properties": {
                        "agent": {"type": "string", "enum": names},
                        "question": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_QUESTION_CHARS,
                        },
                    },
                    "required": ["agent", "question"],
                    "additionalProperties": False,
                },
                examples=("ask the billing agent about this part", "let another agent answer"),
                idempotent=False,
            )
        )

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(await self._delegate(arguments["agent"], arguments["question"]))
