"""What a model sees of tools and what it answers with: ``FunctionTool`` (a tool offered
to the model), ``ToolChoice`` (whether and which tool it must call) and ``ToolCall`` (one
call the model proposes).

These are the OpenAI function-calling shapes, backend-neutral: every backend takes
``GenerationParams.tools``/``tool_choice`` and returns ``GenerationResult.tool_calls``.
``ToolCall.arguments`` is the JSON text the model produced, not parsed: a model may
produce text that is not JSON, and whoever runs the call (the worker agent, an API client)
decides what that means.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from smolit.errors import ValidationError
from smolit.tools.base import ToolSpec

ToolChoiceMode = Literal["auto", "none", "required"]


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call: its name, description and JSON Schema arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    @classmethod
    def from_spec(cls, spec: ToolSpec) -> FunctionTool:
        return cls(spec.name, spec.description, spec.parameters)

    def to_openai(self) -> dict[str, Any]:
        """The ``{"type": "function", "function": {...}}`` entry of an OpenAI request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class ToolChoice:
    """``auto``: the model decides; ``none``: it answers in text; ``required``: it calls
    a tool, ``function`` (when set) and no other."""

    mode: ToolChoiceMode = "auto"
    function: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "none", "required"):
            raise ValidationError(
                f"tool_choice {self.mode!r}: use 'auto', 'none', 'required' or a function"
            )
        if self.function is not None and self.mode != "required":
            raise ValidationError("a named tool_choice function is always 'required'")

    @classmethod
    def named(cls, function: str) -> ToolChoice:
        return cls("required", function)

    def allowed(self, tools: tuple[FunctionTool, ...]) -> tuple[FunctionTool, ...]:
        """The tools a call may name under this choice (none for ``none``)."""
        if self.mode == "none":
            return ()
        if self.function is not None:
            return tuple(tool for tool in tools if tool.name == self.function)
        return tools


def new_call_id() -> str:
    """An id for a call whose backend gave none, in OpenAI's ``call_…`` form."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True)
class ToolCall:
    """One call the model proposes: ``arguments`` is its JSON text, as produced."""

    name: str
    arguments: str = "{}"
    id: str = field(default_factory=new_call_id)

    @classmethod
    def of(cls, name: str, arguments: Mapping[str, Any], id: str | None = None) -> ToolCall:
        """A call whose arguments are given as data."""
        text = json.dumps(dict(arguments), ensure_ascii=False, separators=(",", ":"))
        return cls(name, text, id) if id is not None else cls(name, text)

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a JSON object; a ``ValidationError`` naming what is wrong if
        they are not one."""
        try:
            value = json.loads(self.arguments) if self.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"the arguments of {self.name!r} are not JSON: {exc.msg} at position {exc.pos}",
                details={"tool": self.name},
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError(
                f"the arguments of {self.name!r} must be a JSON object, not {type(value).__name__}",
                details={"tool": self.name},
            )
        return value

    def to_openai(self) -> dict[str, Any]:
        """The ``tool_calls`` entry of an OpenAI assistant message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
