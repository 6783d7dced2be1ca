"""``FakeModel``: a scripted model backend for fast, deterministic tests.

In the spirit of llm's ``MockModel.enqueue`` and pydantic-ai's ``TestModel``: scripted
replies are returned in order; when none is left the model answers ``default`` or, without
one, ``"[fake] "`` followed by the last user message. Every call is recorded in ``calls``.
Tokens are whitespace-separated words, so ``max_new_tokens`` truncates deterministically.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from smolit.config import ModelDefinition
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult, ModelBackend

ECHO_PREFIX = "[fake] "
ECHO_CHARS = 200


def echo_reply(messages: list[ChatMessage]) -> str:
    """The deterministic fallback answer: the last user message, truncated."""
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return ECHO_PREFIX + last_user[:ECHO_CHARS]


class FakeModel(ModelBackend):
    """A model double: scripted replies, recorded calls, optional delay or failure.

    ``responses`` and ``enqueue`` may hold an exception instead of a text: it is raised
    on the call that reaches it. ``fail_with`` is raised on every call.
    """

    def __init__(
        self,
        name: str = "fake",
        responses: Sequence[str | Exception] | None = None,
        default: str | None = None,
        delay: float = 0.0,
        fail_with: Exception | None = None,
        definition: ModelDefinition | None = None,
    ) -> None:
        super().__init__(name, definition or ModelDefinition.model_validate({"backend": "fake"}))
        self.default = default
        self.delay = delay
        self.fail_with = fail_with
        self.calls: list[list[ChatMessage]] = []
        self.closed = False
        self._script: deque[str | Exception] = deque(responses or [])
        self._lock = threading.Lock()

    def enqueue(self, reply: str | Exception) -> None:
        """Script the next reply (or an exception to raise) after those already queued."""
        with self._lock:
            self._script.append(reply)

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._script)

    def _next_reply(self, messages: list[ChatMessage]) -> str | Exception:
        with self._lock:
            self.calls.append(list(messages))
            if self._script:
                return self._script.popleft()
        return self.default if self.default is not None else echo_reply(messages)

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        started = time.perf_counter()
        reply = self._next_reply(messages)
        if self.delay > 0:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        if isinstance(reply, Exception):
            raise reply
        words = reply.split()
        truncated = len(words) > params.max_new_tokens
        text = " ".join(words[: params.max_new_tokens]) if truncated else reply
        return GenerationResult(
            text=text,
            model=self.name,
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=min(len(words), params.max_new_tokens),
            seconds=time.perf_counter() - started,
            finish_reason="length" if truncated else "stop",
        )

    def close(self) -> None:
        self.closed = True


class FakeModelBackend(FakeModel):
    """The entry-point form (backend ``fake``): built from a definition like any backend.

    ``definition.model``, when set, is the fixed reply; otherwise the model echoes.
    """

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        super().__init__(name, default=definition.model, definition=definition)
