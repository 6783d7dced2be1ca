"""The conversation a transformers chat template renders, tools included.

A template that renders tools (``apply_chat_template(..., tools=[...])`` puts them in
the prompt, as Qwen 2.5, Llama 3.1 or SmolLM3 do) gets them that way, with the earlier
calls and ``tool`` turns in the shape Hugging Face templates expect. A template that
ignores tools (SmolLM2's) gets the Hermes format of ``models/tool_prompt.py`` in plain
system/user/assistant turns. Either way the model is asked for ``<tool_call>`` blocks.
"""

from __future__ import annotations

from typing import Any

from smolit.models.base import ChatMessage, GenerationParams
from smolit.models.local_tools import uses_tools
from smolit.models.tool_calling import FunctionTool
from smolit.models.tool_prompt import hermes_messages, template_messages

_PROBE = FunctionTool("probe_tool_rendering", "Whether the template renders tools.")


def template_renders_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template puts the tools it is given in the prompt."""
    probe = [{"role": "user", "content": "?"}]
    try:
        plain = tokenizer.apply_chat_template(probe, tokenize=False)
        rendered = tokenizer.apply_chat_template(probe, tools=[_PROBE.to_openai()], tokenize=False)
    except Exception:  # a template may raise on tools it does not expect: it cannot render them
        return False
    return _PROBE.name in str(rendered) and rendered != plain


def chat_turns(
    messages: list[ChatMessage], params: GenerationParams, *, native_tools: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The turns for ``apply_chat_template`` and its extra arguments (``tools``)."""
    tools = params.tools if uses_tools(params) else ()
    if not tools and not any(m.role == "tool" or m.tool_calls for m in messages):
        return [{"role": m.role, "content": m.content} for m in messages], {}
    if native_tools:
        options = {"tools": [tool.to_openai() for tool in tools]} if tools else {}
        return template_messages(messages), options
    return list(hermes_messages(messages, tools, params.tool_choice)), {}
