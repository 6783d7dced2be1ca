"""Tools in a prompt and calls in a completion, in the Hermes format, for local models
whose chat template does not render tools itself.

The system prompt lists the tools, one OpenAI function entry a line, inside
``<tools></tools>``, and asks for each call as
``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` (the format of
Hermes 2 Pro, Qwen 2.5 and SmolLM3). Earlier assistant calls are written back in that
format, and tool results go in a user turn as ``<tool_response>…</tool_response>`` (a
user turn rather than a ``tool`` one, so that templates knowing only
system/user/assistant accept them).

``parse_tool_calls`` reads calls back out of a completion: every ``<tool_call>`` block,
or a bare JSON object with ``name`` and ``arguments`` when there is no block. A call that
is not valid JSON still comes back, its arguments being the text the model wrote: the
caller validates them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from smolit.models.base import ChatMessage
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
RESPONSE_OPEN = "<tool_response>"
RESPONSE_CLOSE = "</tool_response>"

_BLOCK = re.compile(re.escape(CALL_OPEN) + r"(.*?)(?:" + re.escape(CALL_CLOSE) + r"|\Z)", re.S)
_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGUMENTS = re.compile(r'"(?:arguments|parameters)"\s*:\s*(.*)', re.S)


def tools_block(tools: Sequence[FunctionTool], choice: ToolChoice) -> str:
    """The system prompt section that offers ``tools`` (empty when none may be called)."""
    if not tools or choice.mode == "none":
        return ""
    listed = "\n".join(json.dumps(tool.to_openai(), ensure_ascii=False) for tool in tools)
    lines = [
        "# Tools",
        "",
        "You may call one or more functions to assist with the user query.",
        "",
        "You are provided with function signatures within <tools></tools> XML tags:",
        "<tools>",
        listed,
        "</tools>",
        "",
        "For each function call, return a json object with function name and arguments "
        "within <tool_call></tool_call> XML tags:",
        "<tool_call>",
        '{"name": <function-name>, "arguments": <args-json-object>}',
        "</tool_call>",
    ]
    if choice.function is not None:
        lines.append(f"You must call the function {choice.function}.")
    elif choice.mode == "required":
        lines.append("You must call at least one function.")
    return "\n".join(lines)


def call_text(call: ToolCall) -> str:
    """One call as the model is asked to write it."""
    try:
        arguments: Any = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        arguments = call.arguments
    body = json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)
    return f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"


def hermes_messages(
    messages: Sequence[ChatMessage], tools: Sequence[FunctionTool], choice: ToolChoice
) -> list[dict[str, str]]:
    """``messages`` as plain system/user/assistant turns carrying tools, calls and
    results in the Hermes format."""
    block = tools_block(tools, choice)
    rendered: list[dict[str, str]] = []
    rest = list(messages)
    if block:
        system = rest.pop(0).content if rest and rest[0].role == "system" else ""
        rendered.append({"role": "system", "content": f"{system}\n\n{block}".strip()})
    for message in rest:
        if message.role == "tool":
            response = f"{RESPONSE_OPEN}\n{message.content}\n{RESPONSE_CLOSE}"
            if rendered and rendered[-1]["role"] == "user" and _is_response(rendered[-1]):
                rendered[-1]["content"] += "\n" + response
            else:
                rendered.append({"role": "user", "content": response})
        elif message.role == "assistant" and message.tool_calls:
            parts = [message.content.strip()] if message.content.strip() else []
            parts.extend(call_text(call) for call in message.tool_calls)
            rendered.append({"role": "assistant", "content": "\n".join(parts)})
        else:
            rendered.append({"role": message.role, "content": message.content})
    return rendered


def _is_response(turn: dict[str, str]) -> bool:
    return turn["content"].startswith(RESPONSE_OPEN)


def template_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """``messages`` in the shape Hugging Face chat templates that render tools expect:
    assistant ``tool_calls`` with arguments as data, ``tool`` turns with their call id."""
    rendered: list[dict[str, Any]] = []
    for message in messages:
        turn: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            turn["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments_data(call)},
                }
                for call in message.tool_calls
            ]
        if message.tool_call_id is not None:
            turn["tool_call_id"] = message.tool_call_id
        rendered.append(turn)
    return rendered


def _arguments_data(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        return call.arguments


def parse_tool_calls(text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """The text before the first call, and the calls ``text`` holds (see the module doc)."""
    start = text.find(CALL_OPEN)
    if start >= 0:
        blocks = [match.group(1) for match in _BLOCK.finditer(text, start)]
        return text[:start].strip(), tuple(_call(block) for block in blocks)
    bare = _bare_calls(text)
    return ("", bare) if bare else (text, ())


def _bare_calls(text: str) -> tuple[ToolCall, ...]:
    """A completion that is only a call object (or a list of them) and no tags."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or not all(_is_call_object(item) for item in items):
        return ()
    return tuple(_from_object(item) for item in items)


def _is_call_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and ("arguments" in value or "parameters" in value)
    )


def _from_object(value: dict[str, Any]) -> ToolCall:
    arguments = value.get("arguments", value.get("parameters"))
    if isinstance(arguments, str):
        return ToolCall(value["name"], arguments)
    return ToolCall(value["name"], json.dumps(arguments, ensure_ascii=False))


def _call(block: str) -> ToolCall:
    """One ``<tool_call>`` block; when it is not a call object, the name and arguments
    the text seems to hold, arguments as written."""
    body = block.strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        value = None
    if _is_call_object(value):
        return _from_object(value)
    name = _NAME.search(body)
    arguments = _ARGUMENTS.search(body)
    written = arguments.group(1).strip() if arguments else body
    if arguments and written.endswith("}") and body.startswith("{"):
        written = written[:-1].rstrip()  # the call object's own closing brace
    return ToolCall(name.group(1) if name else "", written)
