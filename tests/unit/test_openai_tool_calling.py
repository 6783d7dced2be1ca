"""Tool calling through ``/v1/chat/completions`` with the official ``openai`` client, in
process (the client's HTTP client is the app's ``TestClient``), against a scripted fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from openai.types.chat import (
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from smolit.api import create_app
from smolit.config import ModelDefinition
from smolit.models import ChatMessage
from smolit.models.tool_calling import ToolCall, ToolChoice
from smolit.testing import FakeModel
from tests.unit.helpers import small_system

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "description": "The time in a city"},
}
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
SCRIPT = [{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}, "Sunny."]


class Chat:
    """The app with a fake model, an ``openai`` client and a raw client, both as admin."""

    def __init__(self, http: TestClient, fake: FakeModel, token: str) -> None:
        self.http = http
        self.fake = fake
        self.auth = {"Authorization": f"Bearer {token}"}
        self.client = openai.OpenAI(
            base_url="http://testserver/v1", api_key=token, http_client=http, max_retries=0
        )

    def post(self, **body: Any) -> Any:
        body.setdefault("model", "fake")
        body.setdefault("messages", ASK)
        return self.http.post("/v1/chat/completions", json=body, headers=self.auth)

    def last_params_messages(self) -> list[ChatMessage]:
        return self.fake.calls[-1]


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Chat]:
    fake = FakeModel(default="plain answer")
    system = small_system(
        tmp_path,
        fake,
        models={
            "default_model": "fake",
            "definitions": {
                "fake": ModelDefinition(backend="fake"),
                "scripted": ModelDefinition(backend="fake", options={"script": json.dumps(SCRIPT)}),
            },
        },
    )
    with TestClient(create_app(system)) as http:
        yield Chat(http, fake, system.tokens.create("root", "admin").secret)


def call(name: str, arguments: dict[str, Any], id: str) -> ToolCall:
    return ToolCall.of(name, arguments, id)


def function_calls(message: ChatCompletionMessage) -> list[ChatCompletionMessageFunctionToolCall]:
    calls = message.tool_calls or []
    assert calls and all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    return [c for c in calls if isinstance(c, ChatCompletionMessageFunctionToolCall)]


def test_a_tool_call_comes_back_as_message_tool_calls(chat: Chat) -> None:
    chat.fake.enqueue([call("get_weather", {"city": "Paris"}, "call_1")])
    reply = chat.client.chat.completions.create(model="fake", messages=ASK, tools=[WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    (made,) = choice.message.tool_calls
    assert made.id == "call_1" and made.type == "function"
    assert made.function.name == "get_weather"
    assert json.loads(made.function.arguments) == {"city": "Paris"}


def test_a_text_answer_has_no_tool_calls_key(chat: Chat) -> None:
    reply = chat.post(tools=[WEATHER]).json()
    message = reply["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "plain answer"}
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_a_configured_fake_scripts_calls_then_text(chat: Chat) -> None:
    first = chat.client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER])
    assert function_calls(first.choices[0].message)[0].function.arguments == '{"city":"Oslo"}'
    second = chat.client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER])
    assert second.choices[0].message.content == "Sunny."


def test_the_tools_and_choices_reach_the_generation_params(chat: Chat) -> None:
    seen = chat.fake.params
    choices: list[Any] = ["auto", "none", "required"]
    choices.append({"type": "function", "function": {"name": "get_time"}})
    for choice in choices:
        chat.client.chat.completions.create(
            model="fake", messages=ASK, tools=[WEATHER, TIME], tool_choice=choice
        )
    chat.client.chat.completions.create(
        model="fake", messages=ASK, tools=[WEATHER], parallel_tool_calls=False
    )
    assert [p.tool_choice for p in seen] == [
        ToolChoice("auto"),
        ToolChoice("none"),
        ToolChoice("required"),
        ToolChoice.named("get_time"),
        ToolChoice("auto"),
    ]
    assert [t.name for t in seen[0].tools] == ["get_weather", "get_time"]
    assert seen[0].tools[0].parameters == WEATHER["function"]["parameters"]
    assert seen[0].tools[1].parameters == {"type": "object", "properties": {}}
    assert seen[0].parallel_tool_calls and not seen[-1].parallel_tool_calls


def test_no_tools_means_none_offered(chat: Chat) -> None:
    seen = chat.fake.params
    chat.client.chat.completions.create(model="fake", messages=ASK, tool_choice="none")
    assert seen[0].tools == () and seen[0].tool_choice == ToolChoice("none")


def test_two_calls_in_one_answer_have_indices_0_and_1_when_streamed(chat: Chat) -> None:
    chat.fake.enqueue(
        [call("get_weather", {"city": "Paris"}, "call_a"), call("get_time", {}, "call_b")]
    )
    stream = chat.client.chat.completions.create(
        model="fake", messages=ASK, tools=[WEATHER, TIME], stream=True
    )
    indices = [
        (tc.index, tc.id)
        for chunk in stream
        for tc in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
    ]
    assert (0, "call_a") in indices and (1, "call_b") in indices
    assert {index for index, _ in indices} == {0, 1}


def test_parallel_calls_come_back_together(chat: Chat) -> None:
    chat.fake.enqueue(
        [call("get_weather", {"city": "Paris"}, "call_a"), call("get_time", {}, "call_b")]
    )
    reply = chat.client.chat.completions.create(model="fake", messages=ASK, tools=[WEATHER, TIME])
    calls = function_calls(reply.choices[0].message)
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_a", "get_weather"),
        ("call_b", "get_time"),
    ]


def test_a_streamed_call_reassembles_from_the_deltas(chat: Chat) -> None:
    city = "Llanfair" * 20  # arguments longer than one fragment
    chat.fake.enqueue([call("get_weather", {"city": city}, "call_1")])
    stream = chat.client.chat.completions.create(
        model="fake",
        messages=ASK,
        tools=[WEATHER],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    parts = [tc for d in deltas for tc in d.tool_calls or []]
    opening, *fragments = parts
    assert opening.id == "call_1" and opening.function is not None
    assert opening.function.name == "get_weather" and opening.function.arguments == ""
    assert len(fragments) > 1 and all(f.index == 0 and f.id is None for f in fragments)
    arguments = "".join(f.function.arguments or "" for f in fragments if f.function)
    assert json.loads(arguments) == {"city": city}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None and not chunks[-1].choices


def test_the_client_stream_helper_accumulates_the_call(chat: Chat) -> None:
    chat.fake.enqueue([call("get_weather", {"city": "Paris"}, "call_1")])
    with chat.client.chat.completions.stream(model="fake", messages=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.tool_calls is not None and message.tool_calls[0].id == "call_1"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_the_raw_stream_ends_with_finish_and_done(chat: Chat) -> None:
    chat.fake.enqueue([call("get_time", {}, "call_1")])
    text = chat.post(tools=[TIME], stream=True).text
    events = [block.removeprefix("data: ") for block in text.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])["choices"][0]
    assert last == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    opening = json.loads(events[1])["choices"][0]["delta"]["tool_calls"][0]
    assert opening == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }


def test_tool_results_continue_the_conversation(chat: Chat) -> None:
    messages: list[ChatCompletionMessageParam] = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, clear"},
    ]
    chat.fake.enqueue("It is 18 C and clear.")
    reply = chat.client.chat.completions.create(model="fake", messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "It is 18 C and clear."
    user, assistant, result = chat.last_params_messages()
    assert user == ChatMessage("user", "Weather in Paris?")
    assert assistant == ChatMessage(
        "assistant", "", (ToolCall("get_weather", '{"city":"Paris"}', "call_1"),)
    )
    assert result == ChatMessage("tool", "18 C, clear", tool_call_id="call_1")


def test_tool_content_parts_and_a_legacy_name_are_accepted(chat: Chat) -> None:
    messages = [
        {"role": "user", "content": "x", "name": "bob"},
        {
            "role": "assistant",
            "content": "checking",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c",
            "name": "get_time",
            "content": [{"type": "text", "text": "noon"}],
        },
    ]
    assert chat.post(messages=messages).status_code == 200
    assert chat.last_params_messages()[2] == ChatMessage("tool", "noon", tool_call_id="c")
    assert chat.last_params_messages()[1].content == "checking"


def _refused(chat: Chat, **body: Any) -> str:
    response = chat.post(**body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    return str(error["message"])


def _with(tool: dict[str, Any], **function: Any) -> dict[str, Any]:
    return {**tool, "function": {**tool["function"], **function}}


def test_an_unknown_tool_choice_function_is_refused(chat: Chat) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    message = _refused(chat, tools=[WEATHER], tool_choice=choice)
    assert "tool_choice" in message and "'get_time'" in message and "get_weather" in message


def test_a_tool_that_is_not_a_function_is_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[{**WEATHER, "type": "retrieval"}])
    assert "tools.0.type" in message and "function" in message


def test_a_bad_tool_name_is_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[_with(dict(WEATHER), name="get weather")])
    assert "tools.0.function.name" in message and "'get weather'" in message


def test_an_invalid_parameters_schema_is_refused(chat: Chat) -> None:
    bad = {"type": "object", "properties": {"city": {"type": "town"}}}
    message = _refused(chat, tools=[_with(dict(WEATHER), parameters=bad)])
    assert "tools.0.function.parameters" in message and "not a valid JSON Schema" in message


def test_a_non_object_parameters_schema_is_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[_with(dict(WEATHER), parameters={"type": "string"})])
    assert "tools.0.function.parameters" in message and '"type": "object"' in message


def test_a_schema_nested_too_deeply_is_refused(chat: Chat) -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"x": schema}}
    message = _refused(chat, tools=[_with(dict(WEATHER), parameters=schema)])
    assert "tools.0.function.parameters" in message and "deeper" in message


def test_a_schema_with_an_outside_ref_is_refused(chat: Chat) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}
    message = _refused(chat, tools=[_with(dict(WEATHER), parameters=schema)])
    assert "$ref" in message


def test_duplicate_tool_names_are_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[WEATHER, WEATHER, TIME])
    assert "unique" in message and "get_weather" in message and "get_time" not in message


def test_too_many_tools_are_refused(chat: Chat) -> None:
    tools = [_with(dict(TIME), name=f"t{i}") for i in range(129)]
    assert "tools" in _refused(chat, tools=tools)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "x"}}])
def test_a_tool_choice_that_needs_tools_without_tools_is_refused(chat: Chat, choice: Any) -> None:
    message = _refused(chat, tool_choice=choice)
    assert "tool_choice" in message and "needs tools" in message


def test_an_unknown_tool_choice_word_is_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[WEATHER], tool_choice="sometimes")
    assert "tool_choice" in message and "'sometimes'" in message and "'required'" in message


def test_a_tool_message_with_an_unknown_id_is_refused(chat: Chat) -> None:
    messages = [*ASK, {"role": "tool", "tool_call_id": "call_9", "content": "x"}]
    message = _refused(chat, messages=messages)
    assert "messages.1" in message and "'call_9'" in message and "answers no tool call" in message


def _assistant_calls(*ids: str) -> dict[str, Any]:
    calls = [
        {"id": i, "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        for i in ids
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def test_a_call_answered_twice_is_refused(chat: Chat) -> None:
    result = {"role": "tool", "tool_call_id": "c1", "content": "x"}
    message = _refused(chat, messages=[*ASK, _assistant_calls("c1"), result, result])
    assert "messages.3" in message and "already answered" in message


def test_an_unanswered_call_is_refused(chat: Chat) -> None:
    result = {"role": "tool", "tool_call_id": "c1", "content": "x"}
    messages = [*ASK, _assistant_calls("c1", "c2"), result, *ASK]
    message = _refused(chat, messages=messages)
    assert "messages.1" in message and "unanswered: c2" in message


def test_a_tool_message_without_tool_call_id_is_refused(chat: Chat) -> None:
    message = _refused(chat, messages=[*ASK, {"role": "tool", "content": "x"}])
    assert "messages.1" in message and "tool_call_id" in message


def test_content_null_outside_a_tool_calling_assistant_is_refused(chat: Chat) -> None:
    message = _refused(chat, messages=[{"role": "user", "content": None}])
    assert "messages.0" in message and "content" in message


def test_the_deprecated_functions_field_is_refused(chat: Chat) -> None:
    message = _refused(chat, functions=[{"name": "f", "parameters": {}}])
    assert "functions" in message and "send tools" in message


def test_a_nul_in_a_tool_description_is_refused(chat: Chat) -> None:
    message = _refused(chat, tools=[_with(dict(WEATHER), description="a\u0000b")])
    assert "tools.0.function.description" in message


def test_agent_nn_refuses_tools_naming_the_alternative(chat: Chat) -> None:
    message = _refused(chat, model="agent-nn", tools=[WEATHER])
    assert "tools" in message and "'agent-nn' does not take tools" in message


def test_agent_nn_refuses_tool_turns(chat: Chat) -> None:
    result = {"role": "tool", "tool_call_id": "c1", "content": "x"}
    messages = [*ASK, _assistant_calls("c1"), result]
    message = _refused(chat, model="agent-nn", messages=messages)
    assert "messages.1" in message and "tool results" in message


def test_agent_nn_accepts_tool_choice_none(chat: Chat) -> None:
    assert chat.post(model="agent-nn", tool_choice="none").status_code == 200
