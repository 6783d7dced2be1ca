"""One tool call, bounded: ``run_tool_call(tool, arguments, limits)``.

The runner checks the arguments against the tool's schema, runs ``tool.call`` under a
timeout, caps the size of the result (bytes of its text, UTF-8) and turns every way a call
can go wrong into a ``ToolResult`` failure that says what happened: the caller (the model)
sees an error it may recover from, never an exception or a traceback. A call that is late
is cancelled and the runner returns at the deadline, even if the tool ignores the
cancellation; cancelling the caller cancels the call. Exception messages are cut to
``MAX_ERROR_CHARS`` and have known secrets masked (``smolit.redact``).

It returns the result with a ``ToolCallRecord`` for the task's history: the arguments, an
excerpt of the result, the time taken and the size of what the tool returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolit.errors import ConfigError, SmolitError
from smolit.redact import redact_text
from smolit.tools.base import Tool, ToolResult

logger = logging.getLogger(__name__)

#: an exception's message is cut to this many characters in a failure result
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class ToolCallLimits:
    """The bounds of one call: seconds, bytes of the result, characters kept in records."""

    timeout_s: float = 30.0
    max_result_bytes: int = 100_000
    excerpt_chars: int = 500

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"tool call timeout must be positive, not {self.timeout_s!r}")
        if self.max_result_bytes < 1:
            raise ConfigError(
                f"tool result cap must be at least 1 byte, not {self.max_result_bytes!r}"
            )
        if self.excerpt_chars < 0:
            raise ConfigError(f"tool excerpt length must be >= 0, not {self.excerpt_chars!r}")


@dataclass(frozen=True)
class ToolCallRecord:
    """One call as the task keeps it. ``bytes`` is the size of the text the tool returned,
    before the cap (so an oversized result shows its size); ``excerpt`` is the start of
    the result the caller got."""

    name: str
    arguments: dict[str, Any]
    excerpt: str
    duration_s: float
    bytes: int
    is_error: bool


@dataclass(frozen=True)
class ToolCallOutcome:
    """The result to hand to the model, and the record of the call."""

    result: ToolResult
    record: ToolCallRecord


def _exception_message(name: str, exc: Exception) -> str:
    if isinstance(exc, SmolitError):
        message = exc.message
    else:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    return redact_text(f"tool {name!r} failed: {message}")


def _retrieve(task: asyncio.Future[ToolResult]) -> None:
    """Collect what an abandoned call ends with, so that asyncio does not report it."""
    if not task.cancelled():
        task.exception()


async def _call(tool: Tool, arguments: dict[str, Any], timeout_s: float) -> ToolResult:
    name = tool.name
    problems = tool.spec.argument_problems(arguments)
    if problems:
        return ToolResult.failure(f"invalid arguments for tool {name!r}: {'; '.join(problems)}")
    try:
        task = asyncio.ensure_future(tool.call(arguments))
    except Exception as exc:  # a plugin's call that fails before it is awaited
        return ToolResult.failure(_exception_message(name, exc))
    # waiting (not awaiting the call itself) ends at the deadline even when the tool
    # ignores its cancellation; the call is cancelled when it is late or the caller is
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    finally:
        if not task.done():
            task.add_done_callback(_retrieve)
            task.cancel()
    if not done:
        return ToolResult.failure(f"tool {name!r} did not finish within {timeout_s:g} s")
    if task.cancelled():  # the tool cancelled itself; the caller was not cancelled
        return ToolResult.failure(f"tool {name!r} was cancelled")
    try:
        result = task.result()
    except Exception as exc:  # any failure of a tool is a result for the model
        logger.warning("tool %r failed", name, exc_info=True)
        return ToolResult.failure(_exception_message(name, exc))
    if not isinstance(result, ToolResult):
        return ToolResult.failure(
            f"tool {name!r} returned {type(result).__name__}, not a ToolResult"
        )
    return result


async def run_tool_call(
    tool: Tool,
    arguments: dict[str, Any],
    limits: ToolCallLimits | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> ToolCallOutcome:
    """Run ``tool`` on ``arguments`` within ``limits``; every failure is a result."""
    limits = limits or ToolCallLimits()
    started = clock()
    result = await _call(tool, arguments, limits.timeout_s)
    duration_s = clock() - started
    size = len(result.as_text().encode("utf-8"))
    if size > limits.max_result_bytes:
        result = ToolResult.failure(
            f"the result of tool {tool.name!r} is {size:,} bytes, over the cap of "
            f"{limits.max_result_bytes:,} bytes"
        )
    record = ToolCallRecord(
        name=tool.name,
        arguments=arguments,
        excerpt=result.as_text()[: limits.excerpt_chars],
        duration_s=duration_s,
        bytes=size,
        is_error=result.is_error,
    )
    return ToolCallOutcome(result=result, record=record)
