"""What ``/v1/chat/completions`` streams: server-sent events of OpenAI's
``chat.completion.chunk`` objects, tool calls included, and the error event a stream ends
with when it fails after the status line went out.

Tool calls stream as OpenAI sends them: for each call, a delta that opens it (``index``,
``id``, ``type``, ``function.name`` and empty ``arguments``), then deltas carrying its
``arguments`` text in fragments, which the client concatenates by ``index``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from smolit.errors import SmolitError
from smolit.models.tool_calling import ToolCall

#: the characters of a call's arguments one delta carries
ARGUMENT_FRAGMENT_CHARS = 64


def sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


def error_event(exc: Exception) -> bytes:
    if isinstance(exc, SmolitError):
        error = {"type": exc.kind, "message": exc.message, "details": exc.details or {}}
    else:
        error = {"type": "internal_error", "message": "internal server error", "details": {}}
    return sse({"error": error})


def tool_call_deltas(calls: Sequence[ToolCall]) -> Iterator[dict[str, Any]]:
    """The ``delta`` objects that stream ``calls``, in order."""
    for index, call in enumerate(calls):
        opening = {"name": call.name, "arguments": ""}
        yield {
            "tool_calls": [{"index": index, "id": call.id, "type": "function", "function": opening}]
        }
        text = call.arguments
        for start in range(0, len(text), ARGUMENT_FRAGMENT_CHARS):
            fragment = text[start : start + ARGUMENT_FRAGMENT_CHARS]
            yield {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


class Chunks:
    """Builds the chunk objects of one streamed completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def chunk(
        self, delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **(extra or {}),
        }

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }
