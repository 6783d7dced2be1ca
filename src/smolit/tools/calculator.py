"""The built-in ``calculator`` tool: exact rational arithmetic (``smolit.tools.arithmetic``).

It answers with the exact value: a whole number, or a fraction ``p/q`` with its decimal
value (``=`` when that is exact, ``≈`` when it is rounded). A bad expression, a division
by zero or a value past the size caps is a failure that names the position. Registered
through the ``smolit.tools`` entry point ``calculator``; it takes no settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from smolit.errors import ConfigError, ValidationError
from smolit.tools.arithmetic import MAX_EXPRESSION_CHARS, describe, evaluate
from smolit.tools.base import Tool, ToolResult, ToolSpec
from smolit.tools.context import ToolContext

NAME = "calculator"


def calculator_spec() -> ToolSpec:
    return ToolSpec(
        name=NAME,
        description=(
            "Exact arithmetic on whole numbers, decimals and fractions: + - * / "
            "// (floor division), % (remainder, not percent), ** (whole-number powers) and "
            "parentheses. Returns the exact result, as a whole number or a fraction p/q "
            "with its decimal value."
        ),
        parameters={
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "the expression, for example (2**64 - 1) / 3 or 0.1 + 0.2",
                    "minLength": 1,
                    "maxLength": MAX_EXPRESSION_CHARS,
                }
            },
            "required": ["expression"],
            "additionalProperties": False,
        },
        examples=(
            "what is 1234 * 5678",
            "compute (2**64 - 1) / 3 exactly",
            "how much is 15% of 80",
            "add 0.1 and 0.2",
            "what is the remainder of 10**20 divided by 7",
        ),
    )


class CalculatorTool(Tool):
    """Evaluates an arithmetic expression exactly."""

    def __init__(self) -> None:
        super().__init__(calculator_spec())

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        # big-number work takes up to a few tenths of a second: not on the event loop
        return await asyncio.to_thread(self._calculate, arguments["expression"])

    @staticmethod
    def _calculate(expression: str) -> ToolResult:
        try:
            return ToolResult(describe(evaluate(expression)))
        except ValidationError as exc:
            return ToolResult.failure(exc.message)


def calculator_tools(settings: Mapping[str, Any], context: ToolContext) -> Tool:
    """The ``smolit.tools`` factory of the calculator (it needs nothing of ``context``)."""
    if settings:
        raise ConfigError(
            f"tool {NAME!r} takes no settings; got {', '.join(sorted(settings))}",
            details={"tool": NAME},
        )
    return CalculatorTool()
