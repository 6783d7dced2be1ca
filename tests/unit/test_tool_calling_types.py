"""The backend-neutral tool-calling shapes, the fake model's scripted calls and the
response cache's codec for results that hold calls."""

from __future__ import annotations

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ValidationError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResultCodec
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.testing.fake_model import FakeModel, FakeModelBackend

ADD = FunctionTool("add", "Add two numbers", {"type": "object", "properties": {}})
HELLO = [ChatMessage("user", "hello")]


def test_arguments_parse_to_an_object_or_name_what_is_wrong() -> None:
    assert ToolCall.of("add", {"a": 1, "b": 2}).parsed_arguments() == {"a": 1, "b": 2}
    assert ToolCall("add", "  ").parsed_arguments() == {}
    with pytest.raises(ValidationError, match="'add' are not JSON"):
        ToolCall("add", '{"a": ').parsed_arguments()
    with pytest.raises(ValidationError, match="must be a JSON object, not list"):
        ToolCall("add", "[1, 2]").parsed_arguments()


def test_openai_shapes() -> None:
    call = ToolCall.of("add", {"a": 1}, id="call_1")
    assert call.to_openai() == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a":1}'},
    }
    assert ADD.to_openai()["function"]["name"] == "add"
    assert ToolCall("x").id.startswith("call_") and ToolCall("x").id != ToolCall("x").id


def test_tool_choice_names_the_tools_a_call_may_use() -> None:
    other = FunctionTool("sub", "Subtract")
    assert ToolChoice().allowed((ADD, other)) == (ADD, other)
    assert ToolChoice("none").allowed((ADD, other)) == ()
    assert ToolChoice.named("sub").allowed((ADD, other)) == (other,)
    with pytest.raises(ValidationError, match="use 'auto', 'none', 'required'"):
        ToolChoice("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="always 'required'"):
        ToolChoice("auto", "add")


def test_the_fake_proposes_scripted_calls_then_answers() -> None:
    model = FakeModel(responses=[[ToolCall.of("add", {"a": 1}, id="c1")], "three"])
    first = model.generate(HELLO, GenerationParams(tools=(ADD,)))
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == (ToolCall("add", '{"a":1}', "c1"),)
    assert first.text == ""
    assert model.generate(HELLO, GenerationParams()).text == "three"


def test_the_fake_backend_reads_its_script_from_options() -> None:
    definition = ModelDefinition.model_validate(
        {
            "backend": "fake",
            "options": {"script": '[{"tool_calls": [{"name": "add", "arguments": {"a": 2}}]}]'},
        }
    )
    backend = FakeModelBackend("f", definition)
    call = backend.generate(HELLO, GenerationParams()).tool_calls[0]
    assert (call.name, call.parsed_arguments()) == ("add", {"a": 2})
    bad = ModelDefinition.model_validate({"backend": "fake", "options": {"script": '["ok", 3]'}})
    with pytest.raises(ValueError, match="script entry is a text or"):
        FakeModelBackend("f", bad)


def test_results_with_calls_survive_the_cache_codec() -> None:
    codec = GenerationResultCodec()
    result = FakeModel(responses=[[ToolCall.of("add", {"a": 1})]]).generate(
        HELLO, GenerationParams()
    )
    assert codec.load(codec.dump(result)) == result
    tampered = codec.dump(result) | {"tool_calls": [{"id": "x", "name": "add"}]}
    with pytest.raises(ValueError, match="tool call has the wrong fields"):
        codec.load(tampered)
