"""``FakeModel``: a scripted model backend for fast, deterministic tests.

In the spirit of llm's ``MockModel.enqueue`` and pydantic-ai's ``TestModel``: scripted
replies are returned in order; when none is left the model answers ``default`` or, without
one, ``"[fake] "`` followed by the last user message. Every call is recorded in ``calls``.
Tokens are whitespace-separated words, so ``max_new_tokens`` truncates deterministically;
``stream`` yields one word (with the whitespace before it) per delta, and ``stop`` strings
cut the reply like a real model's.

A scripted reply may be a list of ``ToolCall``s instead of a text: the model then proposes
those calls (``finish_reason`` ``"tool_calls"``), whatever tools it was offered, so that
tests can script wrong calls as well as right ones.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from smolit.config import ModelDefinition
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.tool_calling import ToolCall

#: what a scripted call answers: a text, the calls to propose, or an exception to raise
Reply: TypeAlias = str | Sequence[ToolCall] | Exception

ECHO_PREFIX = "[fake] "
ECHO_CHARS = 200
MB = 1024 * 1024
#: splits a text before each word that follows whitespace: the pieces concatenate back
_WORD_STARTS = re.compile(r"(?<=\s)(?=\S)")


def echo_reply(messages: list[ChatMessage]) -> str:
    """The deterministic fallback answer: the last user message, truncated."""
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return ECHO_PREFIX + last_user[:ECHO_CHARS]


def _cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cuts = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    return (text[: min(cuts)].rstrip(), True) if cuts else (text, False)


class FakeModel(ModelBackend):
    """A model double: scripted replies, recorded calls, optional delay or failure.

    ``responses`` and ``enqueue`` may hold an exception instead of a text: it is raised
    on the call that reaches it. ``fail_with`` is raised on every call. ``delay`` is the
    wait before the first word, ``token_delay`` the wait before each further word (both
    in ``generate`` and ``stream``). ``memory_mb`` is what ``memory_bytes`` reports, so that
    pool-budget tests can use fakes; ``FakeModelBackend.sized`` makes a class whose
    ``estimate_memory_bytes`` says the same before loading.

    The waits use ``sleep`` and the reported times ``clock``: real time unless told, so a
    slow fake behind a real server stays slow; a unit test passes a ``ManualClock``'s
    ``now`` and ``sleep`` and advances time instead of waiting for it.
    """

    #: ``memory_mb`` of instances that are given none, and what the class estimates
    default_memory_mb: float = 0.0

    def __init__(
        self,
        name: str = "fake",
        responses: Sequence[Reply] | None = None,
        default: str | None = None,
        delay: float = 0.0,
        fail_with: Exception | None = None,
        definition: ModelDefinition | None = None,
        *,
        token_delay: float = 0.0,
        memory_mb: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, definition or ModelDefinition.model_validate({"backend": "fake"}))
        self.default = default
        self.delay = delay
        self.token_delay = token_delay
        self.clock = clock
        self.sleep = sleep
        self.memory_mb = self.default_memory_mb if memory_mb is None else memory_mb
        self.fail_with = fail_with
        self.calls: list[list[ChatMessage]] = []
        #: the parameters of each call, beside its messages in ``calls``
        self.params: list[GenerationParams] = []
        #: streams whose consumer stopped reading before the end
        self.streams_closed_early = 0
        self.closed = False
        self._script: deque[Reply] = deque(responses or [])
        self._lock = threading.Lock()

    def enqueue(self, reply: Reply) -> None:
        """Script the next reply (a text, tool calls, or an exception to raise) after those
        already queued."""
        with self._lock:
            self._script.append(reply)

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._script)

    def _next_reply(self, messages: list[ChatMessage], params: GenerationParams) -> Reply:
        with self._lock:
            self.calls.append(list(messages))
            self.params.append(params)
            if self._script:
                return self._script.popleft()
        return self.default if self.default is not None else echo_reply(messages)

    @classmethod
    def estimate_memory_bytes(cls, definition: ModelDefinition) -> int:
        return int(cls.default_memory_mb * MB)

    def memory_bytes(self) -> int:
        return int(self.memory_mb * MB)

    def _answer(
        self, reply: Reply, messages: list[ChatMessage], params: GenerationParams
    ) -> tuple[list[str], GenerationResult]:
        """The reply as word pieces, and the result (its ``seconds`` set by the caller)."""
        if self.fail_with is not None:
            raise self.fail_with
        if isinstance(reply, Exception):
            raise reply
        if not isinstance(reply, str):
            calls = tuple(reply)
            return [], GenerationResult(
                text="",
                model=self.name,
                prompt_tokens=sum(len(m.content.split()) for m in messages),
                completion_tokens=sum(len(call.arguments.split()) + 1 for call in calls),
                finish_reason="tool_calls",
                tool_calls=calls,
            )
        text, stopped = _cut(reply, params.stop)
        words = text.split()
        truncated = len(words) > params.max_new_tokens
        if truncated:
            text = " ".join(words[: params.max_new_tokens])
        result = GenerationResult(
            text=text,
            model=self.name,
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=min(len(words), params.max_new_tokens),
            finish_reason="length" if truncated and not stopped else "stop",
        )
        return [piece for piece in _WORD_STARTS.split(text) if piece], result

    def _wait(self, index: int) -> None:
        pause = self.delay if index == 0 else self.token_delay
        if pause > 0:
            self.sleep(pause)

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        started = self.clock()
        reply = self._next_reply(messages, params)
        self._wait(0)
        pieces, result = self._answer(reply, messages, params)
        first = self.clock() - started
        for index in range(1, len(pieces)):
            self._wait(index)
        return replace(result, seconds=self.clock() - started, first_token_seconds=first)

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        """One delta per word, ``delay`` before the first and ``token_delay`` before the rest;
        closing the iterator early counts in ``streams_closed_early``."""
        started = self.clock()
        first: float | None = None
        reply = self._next_reply(messages, params)
        self._wait(0)
        pieces, result = self._answer(reply, messages, params)
        finished = False
        try:
            for index, piece in enumerate(pieces):
                if index:
                    self._wait(index)
                first = self.clock() - started if first is None else first
                yield StreamEvent(piece)
            finished = True
        finally:
            if not finished:
                with self._lock:
                    self.streams_closed_early += 1
        seconds = self.clock() - started
        yield StreamEvent("", replace(result, seconds=seconds, first_token_seconds=first))

    def close(self) -> None:
        self.closed = True


class FakeModelBackend(FakeModel):
    """The entry-point form (backend ``fake``): built from a definition like any backend.

    ``definition.model``, when set, is the fixed reply; otherwise the model echoes.
    ``options.delay`` (seconds per call) and ``options.token_delay`` simulate a slow model,
    for benchmarks and fault tests that run a real server. ``options.script`` is a JSON list
    of the first replies, each a text or ``{"tool_calls": [{"name": ..., "arguments": {...}}]}``.
    """

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        options = definition.options
        super().__init__(
            name,
            responses=_script(options.get("script", "[]")),
            default=definition.model,
            definition=definition,
            delay=float(options.get("delay", 0.0)),
            token_delay=float(options.get("token_delay", 0.0)),
        )

    @classmethod
    def sized(cls, memory_mb: float) -> type[FakeModelBackend]:
        """A backend class whose models take ``memory_mb``, estimated and loaded alike:
        ``registry.register("fake-300mb", FakeModelBackend.sized(300))``."""
        return type(f"FakeModelBackend{memory_mb:g}MB", (cls,), {"default_memory_mb": memory_mb})


def _script(text: object) -> list[Reply]:
    """``options.script`` as replies; a ``ValueError`` naming what is wrong."""
    replies = json.loads(text) if isinstance(text, str) else None
    if not isinstance(replies, list):
        raise ValueError("a fake model's options.script must be a JSON list of replies")
    return [_scripted(reply) for reply in replies]


def _scripted(reply: Any) -> Reply:
    """One ``options.script`` entry as a reply; a ``ValueError`` naming what is wrong."""
    if isinstance(reply, str):
        return reply
    calls = reply.get("tool_calls") if isinstance(reply, Mapping) else None
    if not isinstance(calls, list) or not all(
        isinstance(call, Mapping)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments", {}), Mapping)
        for call in calls
    ):
        raise ValueError(
            "a fake model's script entry is a text or "
            '{"tool_calls": [{"name": ..., "arguments": {...}}]}'
        )
    return [ToolCall.of(call["name"], call.get("arguments", {})) for call in calls]
