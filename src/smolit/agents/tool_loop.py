"""``ToolLoop``: the model proposes tool calls, the loop runs them and feeds the results
back, until the model answers in text or a bound is reached.

Each step is one model call. Calls proposed together run concurrently; each is checked
first (a tool the agent does not list, arguments that are not a JSON object) and runs
through ``run_tool_call`` (schema, time and size bounds). Every result, an error
included, goes back as one ``tool`` message: results are data for the model, never
instructions to the loop, which offers the same tools whatever a result says. The last
step offers no tools, so the model has to answer; one that still calls, or a run whose
calls exceed ``max_tool_calls``, ends with an answer that says which bound was reached.

With a ``ToolJournal`` every call is recorded before it runs and after. A run of a task
after a crash does not repeat a call the tool declares non-idempotent: one an earlier
attempt finished gives its recorded result again; one it started and did not finish is
not run, and the model and the answer are told it may have run.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from smolit.agents.protocols import ModelGenerator
from smolit.agents.spec import AgentSpec
from smolit.agents.tool_records import ToolCallEntry, ToolJournal, call_key, masked
from smolit.agents.tool_selection import ToolOffer, ToolSelector, offer
from smolit.agents.toolbox import AgentTool, LoopBounds
from smolit.errors import ValidationError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.models.catalog import ResolvedModel
from smolit.models.tool_calling import ToolCall, ToolChoice
from smolit.redact import mask_secrets
from smolit.tools.base import ToolResult
from smolit.tools.runner import run_tool_call

REUSED = "ran before a crash; its recorded result was used, not run again"
NOT_REPEATED = "this call may have run before the crash; not repeated"


@dataclass
class LoopOutcome:
    """The answer, the last model result, every call, and which bound ended the run."""

    answer: str
    result: GenerationResult
    calls: list[ToolCallEntry] = field(default_factory=list)
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    tool_seconds: float = 0.0
    #: "max_steps" or "max_tool_calls" when a bound ended the run
    stopped_by: str | None = None


class ToolLoop:
    def __init__(
        self,
        spec: AgentSpec,
        tools: Sequence[AgentTool],
        models: ModelGenerator,
        model: ResolvedModel | str | None,
        params: GenerationParams,
        bounds: LoopBounds,
        selector: ToolSelector | None = None,
        journal: ToolJournal | None = None,
    ) -> None:
        self.spec = spec
        self._tools = {tool.tool.name: tool for tool in tools}
        self._models = models
        self._model = model
        self._params = params
        self._bounds = bounds
        self._selector = selector
        self._journal = journal
        self._earlier: dict[str, deque[ToolCallEntry]] = defaultdict(deque)
        self._seq = 0

    async def run(self, request: str, messages: list[ChatMessage]) -> LoopOutcome:
        """Answer ``request``, starting from ``messages`` (system prompt, the request)."""
        await self._load_earlier()
        specs = [tool.tool.spec for tool in self._tools.values()]
        offered = await offer(self.spec.tool_choice, request, specs, self._selector)
        messages = list(messages)
        outcome: LoopOutcome | None = None
        calls: list[ToolCallEntry] = []
        for step in range(1, self._bounds.max_steps + 1):
            spent = len(calls) >= self._bounds.max_tool_calls
            last = step == self._bounds.max_steps or spent
            params = self._step_params(offered, step, last)
            result, seconds = await self._generate(messages, params)
            outcome = _account(outcome, result, seconds, step)
            if not result.tool_calls:
                outcome.answer = result.text.strip()
                break
            if last:
                outcome.stopped_by = "max_tool_calls" if spent else "max_steps"
                break
            messages.append(ChatMessage("assistant", result.text, tool_calls=result.tool_calls))
            started = time.perf_counter()
            entries = await self._run_calls(
                result.tool_calls, self._bounds.max_tool_calls - len(calls)
            )
            outcome.tool_seconds += time.perf_counter() - started
            calls.extend(entries)
            messages.extend(
                ChatMessage("tool", entry.result or "", tool_call_id=entry.call_id)
                for entry in entries
            )
        assert outcome is not None  # max_steps >= 1
        outcome.calls = [replace(entry, result=None) for entry in calls]
        if outcome.stopped_by is not None:
            outcome.answer = _stopped_answer(outcome.stopped_by, self._bounds)
        unsure = [entry.name for entry in calls if entry.note == NOT_REPEATED]
        if unsure:
            outcome.answer += (
                f"\n\n(Not repeated after a crash, may have run before it: {', '.join(unsure)}.)"
            )
        return outcome

    def _step_params(self, offered: ToolOffer, step: int, last: bool) -> GenerationParams:
        if last:  # the model has to answer
            return replace(self._params, tools=(), tool_choice=ToolChoice("none"))
        choice = offered.first if step == 1 else offered.later
        return replace(self._params, tools=offered.tools, tool_choice=choice)

    async def _generate(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> tuple[GenerationResult, float]:
        started = time.perf_counter()
        result = await self._models.generate(self._model, messages, params)
        return result, time.perf_counter() - started

    async def _load_earlier(self) -> None:
        if self._journal is None:
            return
        for entry in await self._journal.previous():
            # a note marks an entry that was no call: refused, reused or not repeated
            if not entry.idempotent and entry.note is None:
                self._earlier[entry.key].append(entry)

    async def _run_calls(self, calls: Sequence[ToolCall], budget: int) -> list[ToolCallEntry]:
        planned = [self._plan(call, index < budget) for index, call in enumerate(calls)]
        return list(await asyncio.gather(*(self._settle(plan) for plan in planned)))

    def _plan(self, call: ToolCall, within_budget: bool) -> _Planned:
        """The entry of ``call`` (arguments masked), and why it must not run, if so."""
        self._seq += 1
        raw: dict[str, Any] = {}
        problem: str | None = None
        try:
            raw = call.parsed_arguments()
            arguments = masked(raw)
        except ValidationError as exc:
            arguments, problem = {"raw": mask_secrets(call.arguments)}, exc.message
        agent_tool = self._tools.get(call.name)
        entry = ToolCallEntry(
            seq=self._seq,
            call_id=call.id,
            name=call.name,
            arguments=arguments,
            idempotent=agent_tool.tool.spec.idempotent if agent_tool else True,
            key=call_key(call.name, arguments),
        )
        if agent_tool is None:
            problem = f"tool {call.name!r} is not available to this agent"
        elif problem is None and not within_budget:
            problem = (
                f"not run: this agent's limit of {self._bounds.max_tool_calls} tool calls "
                "per task is reached"
            )
        elif problem is None and not entry.idempotent and self._earlier[entry.key]:
            earlier = self._earlier[entry.key].popleft()
            if earlier.finished and earlier.result is not None:
                reused = entry.done(
                    result=earlier.result,
                    excerpt=earlier.excerpt,
                    is_error=earlier.is_error,
                    bytes=earlier.bytes,
                    note=REUSED,
                )
                return _Planned(reused, None, raw)
            problem = NOT_REPEATED
        return _Planned(entry, problem, raw)

    async def _settle(self, plan: _Planned) -> ToolCallEntry:
        """Record, run (unless there is a problem or the result is known) and record."""
        entry, journal = plan.entry, self._journal
        if journal is not None:
            await journal.started(entry)
        if entry.finished:  # a result recorded by an earlier attempt
            done = entry
        elif plan.problem is not None:
            text = ToolResult.failure(plan.problem).for_model()
            done = entry.done(result=text, excerpt=text, is_error=True, note=plan.problem)
        else:
            done = await self._call(entry, plan.arguments)
        if journal is not None:
            await journal.finished(done)
        return done

    async def _call(self, entry: ToolCallEntry, arguments: dict[str, Any]) -> ToolCallEntry:
        """Run the call on the arguments the model wrote; the records keep them masked."""
        agent_tool = self._tools[entry.name]
        outcome = await run_tool_call(agent_tool.tool, arguments, agent_tool.limits)
        record = outcome.record
        return entry.done(
            result=mask_secrets(outcome.result.for_model()),
            excerpt=mask_secrets(record.excerpt),
            is_error=record.is_error,
            duration_s=record.duration_s,
            bytes=record.bytes,
        )


@dataclass(frozen=True)
class _Planned:
    """A call about to be settled: its entry, why it must not run (None: run it) and the
    arguments as the model wrote them."""

    entry: ToolCallEntry
    problem: str | None
    arguments: dict[str, Any]


def _account(
    outcome: LoopOutcome | None, result: GenerationResult, seconds: float, step: int
) -> LoopOutcome:
    if outcome is None:
        outcome = LoopOutcome(answer="", result=result)
    outcome.result = result
    outcome.steps = step
    outcome.prompt_tokens += result.prompt_tokens
    outcome.completion_tokens += result.completion_tokens
    outcome.model_seconds += seconds
    return outcome


def _stopped_answer(bound: str, bounds: LoopBounds) -> str:
    if bound == "max_tool_calls":
        return (
            f"Stopped without an answer: the agent used its {bounds.max_tool_calls} tool "
            "calls (max_tool_calls) and still called tools."
        )
    return (
        f"Stopped without an answer: the agent reached its limit of {bounds.max_steps} "
        "steps (max_steps) while still calling tools."
    )
