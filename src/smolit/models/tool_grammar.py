"""The grammar a tool-calling completion must follow, in llguidance's Lark dialect.

A call is ``<tool_call>\\n{"name": "<tool>", "arguments": <JSON>}\\n</tool_call>``: the
name is one of the tools the choice allows, spelt out literally, and the arguments are
that tool's JSON Schema compiled by llguidance (``%json``). The JSON is written compactly
on one line (``", "`` and ``": "`` separators, no free whitespace), so a small model
cannot wander off into endless blank lines inside a call.

By ``ToolChoice``:

* ``none`` (or no tools): no grammar, the model writes text;
* ``required`` or a named function: the completion is one call, or with
  ``parallel_tool_calls`` one or more, and nothing else;
* ``auto``: either text that never contains ``<tool_call>``, or text up to the first
  ``<tool_call>`` followed by calls as above. Both are single lexemes of the grammar
  (``TEXT`` and ``PREFIX``, built with llguidance's ``&`` and ``~`` regex operators),
  so llguidance's lexer follows both in parallel: the model writes freely until the
  characters it produces complete ``<tool_call>``, and from there the call is
  constrained. Nothing may follow the last call but another one.

Schema keywords llguidance does not enforce are ignored (``lenient``) rather than
refused, so an unusual tool still works; the caller validates the arguments anyway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from smolit.models.tool_calling import FunctionTool, ToolChoice
from smolit.models.tool_prompt import CALL_CLOSE, CALL_OPEN

#: how llguidance writes the arguments JSON (see the module doc)
JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": True,
}

_TEXT = r"TEXT: /(.|\n)*/ & ~/(.|\n)*<tool_call>(.|\n)*/"
_PREFIX = r"PREFIX: /(.|\n)*<tool_call>/ & ~/(.|\n)*<tool_call>(.|\n)+/"


def _literal(text: str) -> str:
    """``text`` as a Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def arguments_schema(tool: FunctionTool) -> dict[str, Any]:
    """The tool's parameters schema with llguidance's formatting options.

    A function's arguments are the parameters it declares: where the schema lists
    ``properties`` and says nothing of others, the call may not invent more (as OpenAI's
    strict mode decodes them). Without this a small model pads a call with made-up keys
    until its token limit cuts the JSON.
    """
    schema = dict(tool.parameters) or {"type": "object"}
    if (
        isinstance(schema.get("properties"), dict)
        and "additionalProperties" not in schema
        and "patternProperties" not in schema
    ):
        schema["additionalProperties"] = False
    options = schema.get("x-guidance")
    merged = {**JSON_OPTIONS, **options} if isinstance(options, dict) else JSON_OPTIONS
    return {**schema, "x-guidance": merged}


def tool_call_grammar(
    tools: Sequence[FunctionTool], choice: ToolChoice, *, parallel: bool
) -> str | None:
    """The Lark grammar of a completion offering ``tools`` under ``choice``; None when
    the completion is free text."""
    allowed = choice.allowed(tuple(tools))
    if not allowed:
        return None
    alternatives = " | ".join(f"call_{index}" for index in range(len(allowed)))
    more = f" ({_literal(chr(10) + CALL_OPEN + chr(10))} call {_literal(chr(10) + CALL_CLOSE)})*"
    calls = f"call {_literal(chr(10) + CALL_CLOSE)}" + (more if parallel else "")
    if choice.mode == "auto":
        start = f"start: TEXT | PREFIX {_literal(chr(10))} {calls}"
    else:
        start = f"start: {_literal(CALL_OPEN + chr(10))} {calls}"
    lines = [start, f"call: {alternatives}"]
    for index, tool in enumerate(allowed):
        head = '{"name": ' + json.dumps(tool.name, ensure_ascii=False) + ', "arguments": '
        lines.append(f'call_{index}: {_literal(head)} args_{index} "}}"')
        schema = json.dumps(arguments_schema(tool), ensure_ascii=False)
        lines.append(f"args_{index}: %json {schema}")
    if choice.mode == "auto":
        lines.extend([_TEXT, _PREFIX])
    return "\n".join(lines) + "\n"
