"""The tool role: ``ToolSpec`` (what the model and the router see), ``ToolResult`` and
``Tool`` with its one required method, ``async call(arguments) -> ToolResult``.

A tool is called through ``smolit.tools.runner.run_tool_call``, which checks the arguments
against ``spec.parameters`` first, so ``call`` only sees arguments that match its schema,
and which bounds the call's time and the result's size. ``call`` must not block the event
loop: blocking work belongs in ``asyncio.to_thread``.
"""

from __future__ import annotations

import copy
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from smolit.config import TOOL_NAME_PATTERN
from smolit.errors import ConfigError, ValidationError
from smolit.tools.schema import ArgumentSchema

#: a value JSON can carry
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

#: the names OpenAI-compatible function calling accepts
TOOL_NAME = re.compile(TOOL_NAME_PATTERN)


def _no_arguments() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, what it does and the JSON Schema of its arguments.

    ``description`` and ``examples`` (requests the tool answers) tell the model and the
    router when to choose the tool. ``idempotent`` is False for a tool whose call changes
    something, so that a task re-run after a crash does not repeat it. Invalid values,
    an invalid schema included, are a ``ConfigError`` here; ``parameters`` is copied and
    must be treated as read-only.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=_no_arguments)
    examples: tuple[str, ...] = ()
    idempotent: bool = True
    _arguments: ArgumentSchema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not TOOL_NAME.fullmatch(self.name):
            raise ConfigError(
                f"tool name {self.name!r}: use 1 to 64 letters, digits, '_' or '-'",
                details={"tool": self.name},
            )
        if not isinstance(self.description, str) or not self.description.strip():
            raise ConfigError(
                f"tool {self.name!r} needs a description: models and the router choose tools by it",
                details={"tool": self.name},
            )
        if not isinstance(self.examples, tuple) or not all(
            isinstance(example, str) and example.strip() for example in self.examples
        ):
            raise ConfigError(
                f"tool {self.name!r}: examples must be a tuple of non-empty strings",
                details={"tool": self.name},
            )
        parameters = copy.deepcopy(self.parameters)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "_arguments", ArgumentSchema(parameters, tool=self.name))

    def argument_problems(self, arguments: Any) -> list[str]:
        """Why ``arguments`` do not match ``parameters``, one line each; empty if they do."""
        return self._arguments.problems(arguments)


def _render(content: JsonValue) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:  # an object JSON cannot carry, NaN, a cycle
        raise ValidationError(f"a tool result must be text or JSON: {exc}") from exc


@dataclass(frozen=True)
class ToolResult:
    """What a call returned: text or a JSON value, and whether it is an error.

    An error is data for the model (it may retry with other arguments), not an exception.
    A content that JSON cannot carry is a ``ValidationError`` here.
    """

    content: JsonValue
    is_error: bool = False
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", _render(self.content))

    @classmethod
    def failure(cls, message: str) -> ToolResult:
        """An error result that says what went wrong."""
        return cls(content=message, is_error=True)

    def as_text(self) -> str:
        """The content as text: a string as it is, anything else as JSON."""
        return self._text

    def for_model(self) -> str:
        """The text a model is shown: ``as_text()``, marked ``Error:`` for an error."""
        return f"Error: {self._text}" if self.is_error else self._text


class Tool(ABC):
    """Something an agent can call: its ``spec`` and an async ``call``."""

    def __init__(self, spec: ToolSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool on ``arguments`` (which match ``spec.parameters``).

        Report a failure the model can act on as ``ToolResult.failure``; an exception
        becomes a failure result in the runner too, with its message.
        """

    async def aclose(self) -> None:  # noqa: B027 (most tools hold nothing to release)
        """Release what the tool holds (a connection, a server process); the tool is not
        called afterwards. The default holds nothing. Closing twice does no harm."""
