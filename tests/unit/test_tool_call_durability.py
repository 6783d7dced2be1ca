"""Tool calls recorded with the task (SQLite): before and after each call, as events,
and a run after a crash that repeats no non-idempotent call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from smolit.agents.spec import AgentSpec, ToolUse
from smolit.agents.tool_loop import NOT_REPEATED, REUSED, LoopOutcome, ToolLoop
from smolit.agents.toolbox import AgentTool, LoopBounds
from smolit.models.base import ChatMessage, GenerationParams
from smolit.models.tool_calling import ToolCall
from smolit.redact import register_secrets
from smolit.storage import Database
from smolit.tasks.store import Claim, NewTask, TaskStore
from smolit.tasks.tool_calls import ToolCallLog
from smolit.testing import FakeModel
from smolit.testing.clock import ManualDateClock
from smolit.testing.fake_model import Reply
from smolit.tools import Tool, ToolCallLimits, ToolResult, ToolSpec
from tests.unit.tool_doubles import TEXT_ARGUMENT, Echo, fake_models

AGENT = AgentSpec(name="mailer", description="sends mail", tools=(ToolUse("send"), ToolUse("echo")))


class Send(Tool):
    """A non-idempotent tool; the call for ``hang_on`` starts and never returns."""

    def __init__(self, hang_on: str | None = None) -> None:
        super().__init__(ToolSpec("send", "Sends a mail.", TEXT_ARGUMENT, idempotent=False))
        self.sent: list[str] = []
        self.hanging = asyncio.Event()
        self._hang_on = hang_on

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        self.sent.append(arguments["text"])
        if arguments["text"] == self._hang_on:
            self.hanging.set()
            await asyncio.Event().wait()
        return ToolResult(f"sent {arguments['text']}")


def script() -> list[Any]:
    return [
        [
            ToolCall.of("send", {"text": "a"}),
            ToolCall.of("echo", {"text": "x"}),
        ],
        [ToolCall.of("send", {"text": "b"})],
        "both sent",
    ]


@pytest.fixture
def clock() -> ManualDateClock:
    return ManualDateClock()


@pytest.fixture
def store(tmp_path: Path, clock: ManualDateClock) -> Iterator[TaskStore]:
    database = Database(f"sqlite:///{tmp_path / 'tasks.db'}")
    database.migrate()
    yield TaskStore(database, clock=clock.now)
    database.dispose()


def claim_new(store: TaskStore) -> Claim:
    task = NewTask("mail a and b", "alice", priority=1, timeout=30, max_attempts=3)
    view, _ = asyncio.run(store.insert(task, requeue_after=60))
    claim = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert claim is not None
    return claim


def loop(store: TaskStore, claim: Claim, model: FakeModel, tools: Sequence[Tool]) -> ToolLoop:
    return ToolLoop(
        AGENT,
        [AgentTool(tool, ToolCallLimits(timeout_s=30)) for tool in tools],
        fake_models(model),
        "fake",
        GenerationParams(),
        LoopBounds(),
        journal=ToolCallLog(store.database, store.clock).journal(claim),
    )


def answer(tool_loop: ToolLoop) -> LoopOutcome:
    messages = [ChatMessage("user", "mail a and b")]
    return asyncio.run(tool_loop.run("mail a and b", messages))


def crash_in_second_send(tool_loop: ToolLoop, send: Send) -> None:
    """Run until the call that sends b has started, then kill the run."""

    async def run_and_kill() -> None:
        work = asyncio.create_task(tool_loop.run("mail a and b", [ChatMessage("user", "x")]))
        await send.hanging.wait()
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work

    asyncio.run(run_and_kill())


def test_each_call_is_recorded_and_announced_before_and_after(store: TaskStore) -> None:
    claim = claim_new(store)
    answer(loop(store, claim, FakeModel(responses=script()), [Send(), Echo()]))
    events = [e for e in store.events(claim.task_id) if e["kind"] != "status"]
    order = [(e["kind"], json.loads(e["detail"])["seq"]) for e in events]
    for seq in (1, 2, 3):  # each call announced before its result
        assert order.index(("tool_call", seq)) < order.index(("tool_result", seq))
    assert len(order) == 6 and all(e["status"] == "running" for e in events)
    calls = {
        json.loads(e["detail"])["seq"]: json.loads(e["detail"])
        for e in events
        if e["kind"] == "tool_call"
    }
    assert calls[1]["arguments"] == {"text": "a"} and calls[1]["idempotent"] is False
    result = next(json.loads(e["detail"]) for e in events if e["kind"] == "tool_result")
    assert {"excerpt", "is_error", "duration_s", "bytes"} <= set(result)
    entries = ToolCallLog(store.database).entries(claim.task_id)
    assert [(e.name, e.finished) for e in entries] == [
        ("send", True),
        ("echo", True),
        ("send", True),
    ]


def test_a_run_after_a_crash_repeats_no_non_idempotent_call(
    store: TaskStore, clock: ManualDateClock
) -> None:
    claim = claim_new(store)
    first_send, first_echo = Send(hang_on="b"), Echo()
    first_run = loop(store, claim, FakeModel(responses=script()), [first_send, first_echo])
    crash_in_second_send(first_run, first_send)
    assert first_send.sent == ["a", "b"]
    clock.advance(60)  # the dead worker's lease runs out
    again = asyncio.run(store.claim(claim.task_id, "w2", lease=30))
    assert again is not None and again.attempt == 2
    send, echo = Send(), Echo()
    outcome = answer(loop(store, again, FakeModel(responses=script()), [send, echo]))
    assert send.sent == []  # neither a (finished before) nor b (maybe sent) again
    assert echo.seen == ["x"]  # an idempotent call may run again
    by_name = [(entry.name, entry.note) for entry in outcome.calls]
    assert by_name == [("send", REUSED), ("echo", None), ("send", NOT_REPEATED)]
    assert outcome.calls[0].excerpt == "sent a" and not outcome.calls[0].is_error
    assert outcome.calls[2].is_error
    assert "Not repeated after a crash, may have run before it: send" in outcome.answer


def test_no_secret_reaches_the_records_or_the_events(store: TaskStore) -> None:
    register_secrets(["sk-very-secret-42"])
    claim = claim_new(store)
    script: list[Reply] = [[ToolCall.of("echo", {"text": "key sk-very-secret-42"})], "done"]
    answer(loop(store, claim, FakeModel(responses=script), [Echo()]))
    recorded = json.dumps(
        [entry.to_dict() for entry in ToolCallLog(store.database).entries(claim.task_id)]
    )
    events = json.dumps(store.events(claim.task_id))
    assert "sk-very-secret-42" not in recorded + events
    assert "key ***" in recorded and "echo: key ***" in events
