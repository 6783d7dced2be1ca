"""The benchmark's three modes over one category's entries.

- ``router``: tool selection only. The selector's top choice must be a function of the
  expected calls (abstaining is then an error); where no call is expected (irrelevance)
  abstaining is right; where any call is right (relevance) not abstaining is.
- ``full``: the selector's shortlist is offered to the model with tool choice
  ``required`` (nothing, with ``none``, when it abstains): the selector decides whether a
  call is made, the model which of the shortlist and with what arguments, decoded under
  the backend's constrained tool-call decoding.
- ``baseline``: every function of the entry offered, tool choice ``auto``, free decoding.

Both model modes ask for several calls in one answer (``parallel_tool_calls``) only in the
categories that expect them (``parallel*``), as a client that wants one call would; both
score the produced calls with BFCL's AST matching (``ast_match``) and
report the fraction of produced calls that validate against their tool's schema.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from bench.bfcl.ast_match import Call, match_calls
from bench.bfcl.data import Entry, expects_any_call, expects_no_call, expects_parallel
from bench.bfcl.schema import ToolSet, tool_set
from smolit.errors import ValidationError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.models.tool_calling import ToolChoice
from smolit.routing.tool_selection import ToolSelector

Mode = Literal["router", "full", "baseline"]
Generate = Callable[[list[ChatMessage], GenerationParams], GenerationResult]
ROLES = ("system", "user", "assistant")


def _fraction(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _p50(timings: list[float]) -> float | None:
    return round(statistics.median(timings), 3) if timings else None


def run_router(category: str, entries: list[Entry], selector: ToolSelector) -> dict[str, Any]:
    """Selection accuracy, abstention and per-request latency (one torch thread)."""
    relevant = relevant_hits = irrelevant = abstained_right = shortlisted = 0
    abstentions = 0
    timings: list[float] = []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for entry in entries:
            tools = tool_set(entry.functions)
            selector.set_tools(tools.specs)
            if tools.specs:
                started = time.perf_counter()
                selection = selector.select_sync(entry.request)
                timings.append((time.perf_counter() - started) * 1000)
                chosen = [tools.original[name] for name in selection.tools]
            else:  # nothing offered: nothing fits
                chosen = []
            abstentions += not chosen
            if expects_no_call(category):
                irrelevant += 1
                abstained_right += not chosen
                continue
            relevant += 1
            if expects_any_call(category):
                relevant_hits += bool(chosen)
                continue
            wanted = entry.expected_functions
            relevant_hits += bool(chosen) and chosen[0] in wanted
            shortlisted += wanted <= set(chosen)
    finally:
        torch.set_num_threads(previous)
    selection_accuracy = _fraction(relevant_hits, relevant)
    irrelevance_accuracy = _fraction(abstained_right, irrelevant)
    return {
        "n": len(entries),
        "accuracy": selection_accuracy if relevant else irrelevance_accuracy,
        "selection_accuracy": selection_accuracy,
        "irrelevance_accuracy": irrelevance_accuracy,
        "abstained": _fraction(abstentions, len(entries)),
        "shortlist_recall": None
        if expects_any_call(category) or not relevant
        else _fraction(shortlisted, relevant),
        "latency_ms_p50": _p50(timings),
    }


@dataclass
class _Tally:
    correct: int = 0
    calls: int = 0
    valid_calls: int = 0


def _messages(entry: Entry) -> list[ChatMessage]:
    return [
        ChatMessage(m["role"], m["content"])  # type: ignore[arg-type]
        for m in entry.messages
        if m.get("role") in ROLES
    ]


def _score_calls(
    category: str, entry: Entry, tools: ToolSet, result: GenerationResult, tally: _Tally
) -> None:
    calls: list[Call] = []
    parsed_all = True
    for produced in result.tool_calls:
        tally.calls += 1
        spec = tools.spec(produced.name)
        try:
            arguments = produced.parsed_arguments()
        except ValidationError:
            parsed_all = False
            continue
        if spec is not None and not spec.argument_problems(arguments):
            tally.valid_calls += 1
        calls.append(Call(tools.original.get(produced.name, produced.name), arguments))
    if expects_no_call(category):
        tally.correct += not result.tool_calls
    elif expects_any_call(category):
        tally.correct += bool(result.tool_calls)
    elif parsed_all and entry.answer is not None:
        tally.correct += match_calls(calls, tools.documents, entry.answer) is None


def run_model(
    category: str,
    entries: list[Entry],
    mode: Mode,
    generate: Generate,
    selector: ToolSelector | None,
    max_new_tokens: int,
) -> dict[str, Any]:
    """AST accuracy of the model's calls and how many of them are schema-valid."""
    tally = _Tally()
    timings: list[float] = []
    for entry in entries:
        tools = tool_set(entry.functions)
        offered = tools.functions()
        choice = ToolChoice("auto")
        if mode == "full" and selector is not None and tools.specs:
            selector.set_tools(tools.specs)
            selection = selector.select_sync(entry.request)
            offered = tools.functions(selection.tools)
            # the selector decides whether to call (the model decides only which and how)
            choice = ToolChoice("none") if selection.abstained else ToolChoice("required")
        params = GenerationParams(
            max_new_tokens=max_new_tokens,
            tools=offered,
            tool_choice=choice,
            parallel_tool_calls=expects_parallel(category),
        )
        started = time.perf_counter()
        result = generate(_messages(entry), params)
        timings.append((time.perf_counter() - started) * 1000)
        _score_calls(category, entry, tools, result, tally)
    return {
        "n": len(entries),
        "accuracy": _fraction(tally.correct, len(entries)),
        "calls": tally.calls,
        "schema_valid": _fraction(tally.valid_calls, tally.calls),
        "latency_ms_p50": _p50(timings),
    }
