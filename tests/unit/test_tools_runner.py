"""run_tool_call: argument checks, timeout, size cap, exceptions as failures, the record."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from smolit.errors import ConfigError, SmolitError
from smolit.tools import Tool, ToolCallLimits, ToolCallOutcome, ToolResult, ToolSpec, run_tool_call
from smolit.tools.runner import MAX_ERROR_CHARS

SHORT = ToolCallLimits(timeout_s=0.01)
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

Behaviour = Callable[[dict[str, Any]], Awaitable[Any]]


class ScriptedTool(Tool):
    """Calls ``behaviour`` and counts the calls."""

    def __init__(self, behaviour: Behaviour, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(
            ToolSpec(name="weather", description="the weather", parameters=parameters or CITY)
        )
        self.behaviour = behaviour
        self.calls = 0

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        self.calls += 1
        result: ToolResult = await self.behaviour(arguments)
        return result


def _returning(result: Any) -> Behaviour:
    async def behaviour(arguments: dict[str, Any]) -> Any:
        return result

    return behaviour


def _raising(exc: BaseException) -> Behaviour:
    async def behaviour(arguments: dict[str, Any]) -> Any:
        raise exc

    return behaviour


async def _never_answers(arguments: dict[str, Any]) -> Any:
    await asyncio.Event().wait()


def _run(
    tool: Tool, arguments: dict[str, Any] | None = None, limits: ToolCallLimits | None = None
) -> ToolCallOutcome:
    return asyncio.run(
        run_tool_call(tool, {"city": "Oslo"} if arguments is None else arguments, limits)
    )


def test_result_of_a_valid_call_is_returned() -> None:
    outcome = _run(ScriptedTool(_returning(ToolResult({"temp": 21}))))
    assert outcome.result == ToolResult({"temp": 21})
    assert not outcome.record.is_error


def test_schema_invalid_call_is_a_failure_naming_the_problem_and_the_tool_is_not_called() -> None:
    tool = ScriptedTool(_returning(ToolResult("sunny")))
    outcome = _run(tool, {"city": 7})
    assert outcome.result.is_error
    assert outcome.result.as_text() == (
        "invalid arguments for tool 'weather': arguments.city: 7 is not of type 'string'"
    )
    assert tool.calls == 0


def test_tool_that_hangs_ends_as_a_timeout_failure() -> None:
    outcome = _run(ScriptedTool(_never_answers), limits=SHORT)
    assert outcome.result == ToolResult.failure("tool 'weather' did not finish within 0.01 s")


def test_tool_that_ignores_its_cancellation_still_ends_at_the_deadline() -> None:
    async def scenario() -> ToolCallOutcome:
        release = asyncio.Event()

        async def stubborn(arguments: dict[str, Any]) -> Any:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()  # swallows the cancellation until the test is done
            return ToolResult("late")

        outcome = await run_tool_call(ScriptedTool(stubborn), {"city": "Oslo"}, SHORT)
        release.set()
        return outcome

    assert "did not finish within" in asyncio.run(scenario()).result.as_text()


def test_cancelling_the_caller_cancels_the_call() -> None:
    async def scenario() -> bool:
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def waits(arguments: dict[str, Any]) -> Any:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        caller = asyncio.create_task(run_tool_call(ScriptedTool(waits), {"city": "Oslo"}))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.wait_for(cancelled.wait(), timeout=5)
        return cancelled.is_set()

    assert asyncio.run(scenario())


def test_exception_becomes_a_failure_with_its_message_and_no_traceback() -> None:
    outcome = _run(ScriptedTool(_raising(RuntimeError("disk on fire"))))
    assert outcome.result == ToolResult.failure("tool 'weather' failed: RuntimeError: disk on fire")
    assert "Traceback" not in outcome.record.excerpt


def test_smolit_error_keeps_its_own_message() -> None:
    outcome = _run(ScriptedTool(_raising(SmolitError("city service unavailable"))))
    assert outcome.result.as_text() == "tool 'weather' failed: city service unavailable"


def test_timeout_raised_by_the_tool_itself_is_not_reported_as_the_runner_timeout() -> None:
    outcome = _run(ScriptedTool(_raising(TimeoutError("upstream took too long"))))
    assert outcome.result.as_text() == (
        "tool 'weather' failed: TimeoutError: upstream took too long"
    )


def test_long_exception_message_is_cut() -> None:
    outcome = _run(ScriptedTool(_raising(ValueError("x" * 50_000))))
    assert len(outcome.result.as_text()) < MAX_ERROR_CHARS + 50


def test_secret_in_an_exception_message_is_masked() -> None:
    outcome = _run(ScriptedTool(_raising(OSError("GET https://api.example/?api_key=s3cr3tvalue"))))
    assert "s3cr3tvalue" not in outcome.result.as_text()


def test_tool_that_returns_something_else_is_a_failure() -> None:
    outcome = _run(ScriptedTool(_returning({"temp": 21})))
    assert outcome.result == ToolResult.failure("tool 'weather' returned dict, not a ToolResult")


def test_result_over_the_byte_cap_is_a_failure_saying_size_and_cap() -> None:
    outcome = _run(
        ScriptedTool(_returning(ToolResult("x" * 2_000))),
        limits=ToolCallLimits(max_result_bytes=1_000),
    )
    assert outcome.result == ToolResult.failure(
        "the result of tool 'weather' is 2,000 bytes, over the cap of 1,000 bytes"
    )
    assert outcome.record.bytes == 2_000 and outcome.record.is_error


def test_byte_cap_counts_utf8_bytes_not_characters() -> None:
    outcome = _run(
        ScriptedTool(_returning(ToolResult("é" * 600))),
        limits=ToolCallLimits(max_result_bytes=1_000),
    )
    assert outcome.result.is_error and outcome.record.bytes == 1_200


def test_record_keeps_name_arguments_and_an_excerpt() -> None:
    tool = ScriptedTool(_returning(ToolResult("sunny " * 100)))
    outcome = _run(tool, limits=ToolCallLimits(excerpt_chars=11))
    record = outcome.record
    assert (record.name, record.arguments, record.excerpt) == (
        "weather",
        {"city": "Oslo"},
        "sunny sunny",
    )
    assert record.bytes == 600


def test_duration_is_measured_with_the_clock_given() -> None:
    readings = iter([100.0, 102.5])
    tool = ScriptedTool(_returning(ToolResult("sunny")))
    outcome = asyncio.run(run_tool_call(tool, {"city": "Oslo"}, clock=lambda: next(readings)))
    assert outcome.record.duration_s == 2.5


@pytest.mark.parametrize(
    "limits",
    [{"timeout_s": 0}, {"timeout_s": -1.0}, {"max_result_bytes": 0}, {"excerpt_chars": -1}],
)
def test_limits_out_of_range_are_a_config_error(limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ToolCallLimits(**limits)
