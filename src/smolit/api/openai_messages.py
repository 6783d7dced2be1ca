"""The parts of an OpenAI chat request that carry tools: the ``messages`` (assistant turns
with ``tool_calls``, ``tool`` turns with their results), ``tools`` and ``tool_choice``,
checked and turned into the model layer's ``ChatMessage``, ``FunctionTool`` and
``ToolChoice``.

Shapes are checked by pydantic (a 422 naming the field, as everywhere on this API); what
involves several parts (unique tool names, a ``tool_choice`` naming one of the tools, a
tool result answering a call the conversation made) by ``request_tools`` and
``conversation``, which raise a ``ValidationError`` that names the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from smolit.api.schemas import JsonObject, Text
from smolit.errors import ConfigError, ValidationError
from smolit.models.base import ChatMessage
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.tools.base import TOOL_NAME
from smolit.tools.schema import ArgumentSchema

#: OpenAI's own limit on the tools of one request
MAX_TOOLS = 128
#: a tool's ``parameters`` schema, as compact JSON, and how deeply it may nest
MAX_SCHEMA_CHARS = 64 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_DESCRIPTION_CHARS = 16_000
#: the calls one assistant turn may carry, and the size of one call's arguments
MAX_CALLS = 128
MAX_ARGUMENT_CHARS = 256 * 1024
MAX_ID_CHARS = 200


def _tool_name(value: str) -> str:
    if not TOOL_NAME.fullmatch(value):
        raise ValueError(f"{value!r}: use 1 to 64 letters, digits, '_' or '-'")
    return value


ToolName = Annotated[Text, AfterValidator(_tool_name)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: Text


class FunctionCallParam(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Text = Field(min_length=1, max_length=64)
    arguments: Text = Field(max_length=MAX_ARGUMENT_CHARS, description="JSON text")


class ToolCallParam(BaseModel):
    """A call an earlier assistant turn made, as the client sends it back."""

    model_config = ConfigDict(extra="ignore")
    id: Text = Field(min_length=1, max_length=MAX_ID_CHARS)
    type: Literal["function"]
    function: FunctionCallParam

    def call(self) -> ToolCall:
        return ToolCall(self.function.name, self.function.arguments, self.id)


class Message(BaseModel):
    """One turn. ``content`` may be null only on an assistant turn that made tool calls;
    a ``tool`` turn answers the call ``tool_call_id``; ``name`` is accepted and unused."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | list[ContentPart] | None = Field(None, max_length=1_000_000)
    name: Text | None = Field(None, max_length=200)
    tool_calls: list[ToolCallParam] | None = Field(None, max_length=MAX_CALLS)
    tool_call_id: Text | None = Field(None, min_length=1, max_length=MAX_ID_CHARS)

    @model_validator(mode="after")
    def _tool_fields(self) -> Message:
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"tool_calls: only an assistant message makes calls, not {self.role}")
        if (self.tool_call_id is None) != (self.role != "tool"):
            raise ValueError("tool_call_id: a tool message needs one, and only a tool message")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content: only an assistant message with tool_calls may omit it")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    def chat(self) -> ChatMessage:
        role = "system" if self.role == "developer" else self.role
        calls = tuple(call.call() for call in self.tool_calls or ())
        return ChatMessage(role, self.text(), calls, self.tool_call_id)


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: ToolName
    description: Text = Field("", max_length=MAX_DESCRIPTION_CHARS)
    parameters: JsonObject | None = Field(
        None, description="a JSON Schema object; none: no arguments"
    )


class ToolParam(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = Field(description='only "function" tools exist')
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: ToolName


class NamedToolChoice(BaseModel):
    """``{"type": "function", "function": {"name": ...}}``: call this tool."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["function"]
    function: NamedFunction


ToolChoiceParam = Literal["auto", "none", "required"] | NamedToolChoice


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, found without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _function_tool(index: int, definition: FunctionDefinition) -> FunctionTool:
    where = f"tools.{index}.function.parameters"
    if definition.parameters is None:
        return FunctionTool(definition.name, definition.description)
    if _depth(definition.parameters) > MAX_SCHEMA_DEPTH:
        raise ValidationError(
            f"{where}: the schema nests deeper than {MAX_SCHEMA_DEPTH} levels",
            details={"field": where},
        )
    if len(json.dumps(definition.parameters, separators=(",", ":"))) > MAX_SCHEMA_CHARS:
        raise ValidationError(
            f"{where}: the schema is larger than {MAX_SCHEMA_CHARS} characters of JSON",
            details={"field": where},
        )
    try:
        ArgumentSchema(definition.parameters, tool=definition.name)
    except ConfigError as exc:
        raise ValidationError(f"{where}: {exc.message}", details={"field": where}) from exc
    return FunctionTool(definition.name, definition.description, definition.parameters)


def request_tools(
    tools: Sequence[ToolParam] | None, choice: ToolChoiceParam | None
) -> tuple[tuple[FunctionTool, ...], ToolChoice]:
    """The request's tools, each schema checked, and its tool choice (``auto`` when none
    is given, as OpenAI's default with tools; ``none`` and ``auto`` need no tools)."""
    functions = tuple(_function_tool(i, tool.function) for i, tool in enumerate(tools or ()))
    names = [tool.name for tool in functions]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(
            f"tools: each function name must be unique; repeated: {', '.join(repeated)}",
            details={"field": "tools", "repeated": repeated},
        )
    if choice is None or choice == "auto":
        return functions, ToolChoice("auto")
    if choice == "none":
        return functions, ToolChoice("none")
    if not functions:
        shown = choice if isinstance(choice, str) else "a named function"
        raise ValidationError(
            f"tool_choice: {shown!r} needs tools; the request offers none",
            details={"field": "tool_choice"},
        )
    if choice == "required":
        return functions, ToolChoice("required")
    if choice.function.name not in names:
        raise ValidationError(
            f"tool_choice: function {choice.function.name!r} is not one of the tools "
            f"({', '.join(names)})",
            details={"field": "tool_choice", "function": choice.function.name},
        )
    return functions, ToolChoice.named(choice.function.name)


def _unanswered(calls: dict[str, int], index: int) -> ValidationError:
    ids = ", ".join(calls)
    return ValidationError(
        f"messages.{index}: the assistant message's tool calls need a tool message each "
        f"before the conversation goes on; unanswered: {ids}",
        details={"field": f"messages.{index}", "tool_call_ids": list(calls)},
    )


def _check_turns(messages: Sequence[Message]) -> None:
    """Tool messages answer the calls of the assistant message just before them (other
    tool messages aside), each call once; every call is answered before the next turn."""
    pending: dict[str, int] = {}  # call id -> the index of the assistant message
    seen: set[str] = set()
    for index, message in enumerate(messages):
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            if call_id not in pending:
                made = "was already answered" if call_id in seen else "answers no tool call"
                raise ValidationError(
                    f"messages.{index}: tool_call_id {call_id!r} {made} of the assistant "
                    "message before it",
                    details={"field": f"messages.{index}.tool_call_id"},
                )
            del pending[call_id]
            continue
        if pending:
            raise _unanswered(pending, next(iter(pending.values())))
        for call in message.tool_calls or ():
            if call.id in seen:
                raise ValidationError(
                    f"messages.{index}: tool call id {call.id!r} is used twice",
                    details={"field": f"messages.{index}.tool_calls"},
                )
            seen.add(call.id)
            pending[call.id] = index
    if pending:
        raise _unanswered(pending, next(iter(pending.values())))


def conversation(messages: Sequence[Message]) -> list[ChatMessage]:
    """The messages as the model sees them, once their tool turns are checked."""
    _check_turns(messages)
    return [message.chat() for message in messages]
