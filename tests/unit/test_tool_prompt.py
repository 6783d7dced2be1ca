"""The Hermes tool format: tools in the system prompt, calls and results in the
conversation, calls read back out of a completion."""

import json

from smolit.models.base import ChatMessage
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.models.tool_prompt import (
    hermes_messages,
    parse_tool_calls,
    template_messages,
    tools_block,
)

ADD = FunctionTool("add", "Add two numbers.", {"type": "object", "properties": {}})
AUTO = ToolChoice("auto")


def test_tools_block_lists_each_tool_as_an_openai_entry() -> None:
    block = tools_block((ADD,), AUTO)
    listed = block.split("<tools>\n")[1].split("\n</tools>")[0]
    assert json.loads(listed) == ADD.to_openai()
    assert "<tool_call>" in block and "You must" not in block


def test_tools_block_says_a_call_is_required() -> None:
    assert "You must call at least one function." in tools_block((ADD,), ToolChoice("required"))
    assert "You must call the function add." in tools_block((ADD,), ToolChoice.named("add"))


def test_no_tools_block_for_tool_choice_none() -> None:
    assert tools_block((ADD,), ToolChoice("none")) == ""


def test_tools_join_the_existing_system_prompt() -> None:
    turns = hermes_messages(
        [ChatMessage("system", "Be brief."), ChatMessage("user", "1+1?")], (ADD,), AUTO
    )
    assert [t["role"] for t in turns] == ["system", "user"]
    assert turns[0]["content"].startswith("Be brief.\n\n# Tools")


def test_calls_and_results_are_written_in_the_hermes_format() -> None:
    history = [
        ChatMessage("user", "1+2 and 3+4?"),
        ChatMessage(
            "assistant",
            "",
            tool_calls=(
                ToolCall("add", '{"a": 1, "b": 2}', "c1"),
                ToolCall("add", "{broken", "c2"),
            ),
        ),
        ChatMessage("tool", "3", tool_call_id="c1"),
        ChatMessage("tool", "error", tool_call_id="c2"),
    ]
    turns = hermes_messages(history, (ADD,), AUTO)
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user"]
    assert turns[2]["content"] == (
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": "{broken"}\n</tool_call>'
    )
    assert turns[3]["content"] == (
        "<tool_response>\n3\n</tool_response>\n<tool_response>\nerror\n</tool_response>"
    )


def test_template_messages_carry_calls_as_data_and_call_ids() -> None:
    history = [
        ChatMessage("assistant", "", tool_calls=(ToolCall("add", '{"a": 1}', "c1"),)),
        ChatMessage("tool", "1", tool_call_id="c1"),
    ]
    turns = template_messages(history)
    assert turns[0]["tool_calls"][0]["function"] == {"name": "add", "arguments": {"a": 1}}
    assert turns[1] == {"role": "tool", "content": "1", "tool_call_id": "c1"}


def test_parses_calls_and_the_text_before_them() -> None:
    text = (
        'Checking.\n<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>\n'
        '<tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>'
    )
    content, calls = parse_tool_calls(text)
    assert content == "Checking."
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("add", {"a": 1}),
        ("add", {"a": 2}),
    ]
    assert calls[0].id != calls[1].id


def test_text_without_calls_is_left_alone() -> None:
    assert parse_tool_calls("Just {an} answer.") == ("Just {an} answer.", ())


def test_a_bare_call_object_is_a_call() -> None:
    content, calls = parse_tool_calls('{"name": "add", "parameters": {"a": 1}}')
    assert content == "" and [(c.name, c.arguments) for c in calls] == [("add", '{"a": 1}')]


def test_a_json_object_that_is_not_a_call_is_text() -> None:
    assert parse_tool_calls('{"answer": 4}') == ('{"answer": 4}', ())


def test_invalid_json_keeps_the_arguments_as_written() -> None:
    _, calls = parse_tool_calls(
        '<tool_call>\n{"name": "add", "arguments": {"a": 1,}}\n</tool_call>'
    )
    assert (calls[0].name, calls[0].arguments) == ("add", '{"a": 1,}')


def test_an_unclosed_call_is_read_to_the_end() -> None:
    _, calls = parse_tool_calls('<tool_call>\n{"name": "add", "arguments": {"a": 1')
    assert (calls[0].name, calls[0].arguments) == ("add", '{"a": 1')


def test_a_call_without_a_name_comes_back_nameless() -> None:
    _, calls = parse_tool_calls("<tool_call>add(1, 2)</tool_call>")
    assert (calls[0].name, calls[0].arguments) == ("", "add(1, 2)")


def test_arguments_given_as_a_json_string_stay_that_string() -> None:
    _, calls = parse_tool_calls(
        '<tool_call>{"name": "add", "arguments": "{\\"a\\": 1}"}</tool_call>'
    )
    assert calls[0].arguments == '{"a": 1}'
