"""The tool-call grammar, run through llguidance with a byte-level tokenizer: what a
completion may and may not be under each tool choice."""

import json

import pytest

from smolit.errors import ValidationError
from smolit.models.grammar_guide import GrammarGuide
from smolit.models.tool_calling import FunctionTool, ToolChoice
from smolit.models.tool_grammar import tool_call_grammar
from tests.unit.byte_tokenizer import byte_lltokenizer, encode, eos_id

FORECAST = FunctionTool(
    "get_forecast",
    "Weather forecast for a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "days", "unit"],
        "additionalProperties": False,
    },
)
ADD = FunctionTool(
    "add",
    "Add two numbers.",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
)
TOOLS = (FORECAST, ADD)
GOOD_ARGS = {"city": "Oslo", "days": 3, "unit": "celsius"}


def call(name: str, arguments: object) -> str:
    body = '{"name": ' + json.dumps(name) + ', "arguments": ' + json.dumps(arguments) + "}"
    return f"<tool_call>\n{body}\n</tool_call>"


def guide(choice: ToolChoice, *, parallel: bool = True) -> GrammarGuide:
    grammar = tool_call_grammar(TOOLS, choice, parallel=parallel)
    assert grammar is not None
    return GrammarGuide(byte_lltokenizer(), grammar)


def accepts(g: GrammarGuide, text: str, *, then_end: bool = True) -> bool:
    """Whether the grammar allows ``text`` token by token (and then the end)."""
    ids: list[int] = []
    for token in encode(text):
        g.advance(ids)
        if not g.allowed()[token]:
            return False
        ids.append(token)
    g.advance(ids)
    return bool(g.allowed()[eos_id()]) if then_end else True


def test_required_accepts_a_call_matching_the_schema() -> None:
    assert accepts(guide(ToolChoice("required")), call("get_forecast", GOOD_ARGS))


def test_required_refuses_text_before_the_call() -> None:
    assert not accepts(guide(ToolChoice("required")), "Sure! " + call("add", {"a": 1}))


def test_required_refuses_an_unknown_tool_name() -> None:
    assert not accepts(guide(ToolChoice("required")), call("delete_everything", {}))


@pytest.mark.parametrize(
    "arguments",
    [
        {**GOOD_ARGS, "days": "three"},  # a string for an integer
        {**GOOD_ARGS, "days": 2.5},
        {**GOOD_ARGS, "unit": "kelvin"},  # not in the enum
        {"city": "Oslo", "days": 3},  # a required property missing
        {**GOOD_ARGS, "extra": 1},  # additionalProperties is false
    ],
)
def test_required_refuses_arguments_breaking_the_schema(arguments: dict[str, object]) -> None:
    assert not accepts(guide(ToolChoice("required")), call("get_forecast", arguments))


def test_a_call_declares_no_parameters_beyond_the_schema() -> None:
    assert accepts(guide(ToolChoice("required")), call("add", {"a": 1, "b": 2}))
    assert not accepts(guide(ToolChoice("required")), call("add", {"a": 1, "c": 2}))
    free_form = FunctionTool(
        "tag",
        "Tag things.",
        {"type": "object", "properties": {"a": {}}, "additionalProperties": True},
    )
    grammar = tool_call_grammar((free_form,), ToolChoice("required"), parallel=False)
    assert grammar is not None
    assert accepts(GrammarGuide(byte_lltokenizer(), grammar), call("tag", {"a": 1, "c": 2}))


def test_required_refuses_to_end_before_a_call() -> None:
    g = guide(ToolChoice("required"))
    g.advance([])
    assert not g.allowed()[eos_id()]


def test_named_choice_allows_only_that_tool() -> None:
    assert accepts(guide(ToolChoice.named("add")), call("add", {"a": 1, "b": 2}))
    assert not accepts(guide(ToolChoice.named("add")), call("get_forecast", GOOD_ARGS))


def test_parallel_calls_may_follow_each_other() -> None:
    two = call("add", {"a": 1}) + "\n" + call("get_forecast", GOOD_ARGS)
    assert accepts(guide(ToolChoice("required"), parallel=True), two)
    assert not accepts(guide(ToolChoice("required"), parallel=False), two)


def test_one_call_ends_the_completion_without_parallel_calls() -> None:
    g = guide(ToolChoice("required"), parallel=False)
    assert accepts(g, call("add", {"a": 1}), then_end=False)
    allowed = g.allowed()
    assert allowed[eos_id()] and int(allowed.sum()) == 1 and g.finished


def test_auto_accepts_plain_text() -> None:
    assert accepts(guide(ToolChoice("auto")), "The answer is 4 <b>bold</b>.\nBye")


def test_auto_accepts_text_then_calls() -> None:
    text = "Let me check.\n" + call("get_forecast", GOOD_ARGS)
    assert accepts(guide(ToolChoice("auto")), text)


def test_auto_constrains_what_follows_the_call_tag() -> None:
    assert not accepts(guide(ToolChoice("auto")), "<tool_call>\nI will not call anything")
    assert not accepts(guide(ToolChoice("auto")), call("get_forecast", {**GOOD_ARGS, "days": "3"}))


def test_auto_allows_no_text_after_the_calls() -> None:
    assert not accepts(guide(ToolChoice("auto")), call("add", {"a": 1}) + "\nDone.")


def test_none_and_no_tools_need_no_grammar() -> None:
    assert tool_call_grammar(TOOLS, ToolChoice("none"), parallel=True) is None
    assert tool_call_grammar((), ToolChoice("required"), parallel=True) is None


def test_a_named_choice_of_an_absent_tool_needs_no_grammar() -> None:
    assert tool_call_grammar(TOOLS, ToolChoice.named("absent"), parallel=True) is None


def test_the_arguments_are_compact_json() -> None:
    spaced = call("add", {"a": 1}).replace('"a": 1', '"a":   1')
    assert not accepts(guide(ToolChoice("required")), spaced)


def test_a_schema_llguidance_cannot_compile_is_a_validation_error() -> None:
    broken = FunctionTool("broken", "x", {"type": "object", "properties": {"a": {"$ref": "#/x"}}})
    grammar = tool_call_grammar((broken,), ToolChoice("required"), parallel=False)
    assert grammar is not None
    with pytest.raises(ValidationError, match="tool-call grammar does not compile"):
        GrammarGuide(byte_lltokenizer(), grammar)
