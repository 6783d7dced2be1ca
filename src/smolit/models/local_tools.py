"""Tool calling for backends that run the model here (transformers, llama.cpp): the
``tool_call_decoding`` option, the grammar a generation follows, and the calls read back
out of the completion.

``tool_call_decoding`` (in ``ModelDefinition.options``) is ``constrained`` (default: the
completion follows ``tool_grammar.tool_call_grammar``, so every call is valid JSON
matching its tool's schema) or ``free`` (no grammar: the completion is parsed as the
model wrote it, and a call that is not valid JSON comes back with the arguments as
written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smolit.config import ModelDefinition
from smolit.errors import ConfigError
from smolit.models.base import GenerationParams
from smolit.models.tool_calling import ToolCall
from smolit.models.tool_grammar import tool_call_grammar
from smolit.models.tool_prompt import CALL_CLOSE, parse_tool_calls

ToolCallDecoding = Literal["constrained", "free"]
DECODING_OPTION = "tool_call_decoding"
DECODINGS: tuple[ToolCallDecoding, ...] = ("constrained", "free")


def tool_call_decoding(definition: ModelDefinition) -> ToolCallDecoding:
    """The definition's ``tool_call_decoding`` option; a ``ConfigError`` naming the
    allowed values when it is something else."""
    value = definition.options.get(DECODING_OPTION, "constrained")
    for decoding in DECODINGS:
        if value == decoding:
            return decoding
    raise ConfigError(
        f"options.{DECODING_OPTION} is {value!r}: use 'constrained' or 'free'",
        details={"option": DECODING_OPTION, "value": str(value)},
    )


def check_tool_options(definition: ModelDefinition) -> str | None:
    """Why the definition's tool options cannot work; None when they can."""
    try:
        tool_call_decoding(definition)
    except ConfigError as exc:
        return exc.message
    return None


def uses_tools(params: GenerationParams) -> bool:
    """Whether the model may call a tool in this generation."""
    return bool(params.tools) and params.tool_choice.mode != "none"


def call_grammar(params: GenerationParams, decoding: ToolCallDecoding) -> str | None:
    """The Lark grammar the completion must follow; None for unconstrained text."""
    if decoding == "free" or not uses_tools(params):
        return None
    return tool_call_grammar(params.tools, params.tool_choice, parallel=params.parallel_tool_calls)


@dataclass(frozen=True)
class Completion:
    """A completion split into the text the caller sees and the calls it proposes."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()

    #: whether the token limit cut the completion inside a call (that call is dropped)
    cut_call: bool = False

    def finish_reason(self, base: str) -> str:
        """``tool_calls`` when the completion proposes calls and they are complete."""
        if self.tool_calls and (base != "length" or self.cut_call):
            return "tool_calls"
        return base


def read_completion(text: str, params: GenerationParams, *, cut: bool = False) -> Completion:
    """The calls in ``text`` when tools were offered; the text alone otherwise.

    ``cut``: the token limit ended the completion. When it ended inside a call that
    follows complete ones (a model that goes on proposing calls), the unfinished call is
    dropped and the complete ones are the answer; a lone unfinished call is kept, its
    arguments as written, with ``finish_reason`` ``length``.
    """
    if not uses_tools(params):
        return Completion(text)
    content, calls = parse_tool_calls(text)
    cut_call = cut and len(calls) > 1 and not text.rstrip().endswith(CALL_CLOSE)
    if cut_call:
        calls = calls[:-1]
    if not params.parallel_tool_calls:
        calls = calls[:1]
    return Completion(content, calls, cut_call)
