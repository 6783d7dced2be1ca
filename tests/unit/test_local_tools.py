"""Tool calling for local backends: the tool_call_decoding option, when a grammar
applies, and how a completion becomes text and calls."""

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ConfigError
from smolit.models.base import GenerationParams
from smolit.models.local_tools import (
    call_grammar,
    check_tool_options,
    read_completion,
    tool_call_decoding,
)
from smolit.models.tool_calling import FunctionTool, ToolChoice

ADD = FunctionTool("add", "Add two numbers.")
TOOLS = GenerationParams(tools=(ADD,))
CALL = '<tool_call>\n{"name": "add", "arguments": {}}\n</tool_call>'


def model(**options: str) -> ModelDefinition:
    return ModelDefinition(backend="transformers", path="bundled", options=options)


def test_decoding_is_constrained_by_default() -> None:
    assert tool_call_decoding(model()) == "constrained"
    assert tool_call_decoding(model(tool_call_decoding="free")) == "free"


def test_an_unknown_decoding_is_a_config_error_naming_the_values() -> None:
    with pytest.raises(ConfigError, match="'constrained' or 'free'"):
        tool_call_decoding(model(tool_call_decoding="strict"))
    assert "tool_call_decoding" in (check_tool_options(model(tool_call_decoding="x")) or "")


def test_grammar_only_when_constrained_and_a_call_may_happen() -> None:
    assert call_grammar(TOOLS, "constrained") is not None
    assert call_grammar(TOOLS, "free") is None
    assert call_grammar(GenerationParams(), "constrained") is None
    none = GenerationParams(tools=(ADD,), tool_choice=ToolChoice("none"))
    assert call_grammar(none, "constrained") is None


def test_calls_finish_with_tool_calls() -> None:
    completion = read_completion(CALL, TOOLS)
    assert [c.name for c in completion.tool_calls] == ["add"] and completion.text == ""
    assert completion.finish_reason("stop") == "tool_calls"


def test_without_tools_a_call_shaped_text_stays_text() -> None:
    completion = read_completion(CALL, GenerationParams())
    assert completion.text == CALL and completion.tool_calls == ()


def test_a_call_cut_after_complete_ones_is_dropped() -> None:
    completion = read_completion(CALL + "\n" + CALL[:30], TOOLS, cut=True)
    assert len(completion.tool_calls) == 1
    assert completion.finish_reason("length") == "tool_calls"


def test_a_lone_cut_call_is_kept_and_finishes_with_length() -> None:
    completion = read_completion(CALL[:30], TOOLS, cut=True)
    assert len(completion.tool_calls) == 1
    assert completion.finish_reason("length") == "length"


def test_only_the_first_call_without_parallel_calls() -> None:
    params = GenerationParams(tools=(ADD,), parallel_tool_calls=False)
    assert len(read_completion(CALL + "\n" + CALL, params).tool_calls) == 1
