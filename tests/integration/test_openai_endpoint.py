"""``/v1`` over real HTTP with the official ``openai`` client, the bundled SmolLM2, the
``openai`` backend pointed at this same server, and the ``smolit models`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from smolit.config import ModelDefinition
from smolit.models import ChatMessage, GenerationParams
from smolit.models.backends.openai_compat import OpenAICompatibleBackend
from smolit.models.backends.transformers_local import bundled_model_path
from smolit.security.egress import EgressPolicy
from tests.integration.server import TWO_AGENTS, RunningServer, start_server

pytestmark = pytest.mark.slow

CONFIG = (
    """
security:
  egress_allow: [127.0.0.1]  # the openai backend and the registered model call this server
models:
  default_model: fake
  definitions:
    fake: {backend: fake}
    smollm2: {backend: transformers, path: bundled, max_new_tokens: 8}
    caller:  # proposes a call, answers once it has the result, then calls two tools at once
      backend: fake
      options:
        script: >-
          [{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
          "It is sunny in Paris.",
          {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
          {"name": "get_time", "arguments": {}}]}]
"""
    + TWO_AGENTS
)
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Name a fruit."}]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time", "description": "The time"}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("home"), CONFIG)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_token, max_retries=0)


def test_the_official_client_lists_models(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids[0] == "agent-nn" and {"fake", "smollm2"} <= set(ids)


def test_chat_and_stream_give_the_same_greedy_answer(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="smollm2",
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
    )
    text = reply.choices[0].message.content or ""
    assert text.strip() and reply.usage is not None and 0 < reply.usage.completion_tokens <= 8
    stream = client.chat.completions.create(
        model="smollm2",
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            deltas.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert len(deltas) > 1  # token by token, not one block
    assert "".join(deltas).strip() == text.strip()
    assert usage is not None and usage.completion_tokens == reply.usage.completion_tokens


def test_agent_nn_routes_through_the_system(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="agent-nn",
        messages=[{"role": "user", "content": "How long do I boil an egg?"}],
    )
    assert (reply.choices[0].message.content or "").startswith("[fake]")
    extra = reply.model_extra or {}
    assert extra["agent_nn"]["agent"] == "cooking"


def test_a_tool_calling_round_trip_then_parallel_calls_streamed(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Paris weather?"}]
    first = client.chat.completions.create(model="caller", messages=messages, tools=TOOLS)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.content is None
    (made,) = message.tool_calls or []
    assert made.type == "function" and made.function.name == "get_weather"
    assert json.loads(made.function.arguments) == {"city": "Paris"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": made.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": made.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": made.id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model="caller", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "It is sunny in Paris."
    with client.chat.completions.stream(model="caller", messages=QUESTION, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    with pytest.raises(openai.UnprocessableEntityError, match="answers no tool call"):
        client.chat.completions.create(
            model="caller",
            messages=[*QUESTION, {"role": "tool", "tool_call_id": "call_x", "content": "?"}],
        )


def test_errors_reach_the_client_as_typed_exceptions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="known models"):
        client.chat.completions.create(model="nope", messages=QUESTION)
    with pytest.raises(openai.UnprocessableEntityError, match="temperature"):
        client.chat.completions.create(
            model="smollm2",
            messages=QUESTION,
            temperature=5,
        )


def test_eight_concurrent_chats_succeed_and_load_the_model_once(
    client: openai.OpenAI, server: RunningServer
) -> None:
    def ask(i: int) -> str:
        reply = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": f"Say the number {i}."}],
            max_tokens=4,
        )
        return reply.choices[0].message.content or ""

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len(answers) == 8 and all(a.strip() for a in answers)
    with server.client() as http:
        loaded = {m["model"]: m for m in http.get("/models/loaded").json()["models"]}
    assert loaded["smollm2@1"]["loads"] == 1 and loaded["smollm2@1"]["uses"] >= 8


def test_the_openai_backend_talks_to_this_endpoint(server: RunningServer) -> None:
    definition = ModelDefinition(backend="openai", base_url=f"{server.url}/v1", model="smollm2")
    backend = OpenAICompatibleBackend(
        "remote", definition, api_key=server.admin_token, egress=EgressPolicy(["127.0.0.1"])
    )
    try:
        params = GenerationParams(max_new_tokens=6)
        result = backend.generate([ChatMessage("user", "Name a colour.")], params)
        assert result.text.strip() and 0 < result.completion_tokens <= 6
        events = list(backend.stream([ChatMessage("user", "Name a colour.")], params))
        final = events[-1].result
        assert final is not None and "".join(e.delta for e in events).strip() == final.text.strip()
        assert final.text.strip() == result.text.strip()
    finally:
        backend.close()


def test_models_cli_register_promote_show_and_import(server: RunningServer) -> None:
    registered = server.cli(
        "models", "register", "remote", "--backend", "openai",
        "--base-url", f"{server.url}/v1", "--model", "smollm2",
        "--set", "max_new_tokens=4", "--alias", "production", "--json",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["key"] == "remote@1"
    shown = server.cli("models", "show", "smollm2")
    assert shown.returncode == 0 and "sha256" in shown.stdout
    imported = server.cli("models", "import", str(bundled_model_path()), "--name", "copy", "--json")
    assert imported.returncode == 0, imported.stderr
    version = json.loads(imported.stdout)
    with server.client() as http:
        original = http.get("/models/smollm2").json()["versions"][0]
    assert version["checksum"] == original["checksum"] and version["size_bytes"] > 0
    listed = server.cli("models", "list")
    assert listed.returncode == 0 and "copy" in listed.stdout and "production=1" in listed.stdout
    missing = server.cli("models", "promote", "copy", "9")
    assert missing.returncode == 1 and "versions: [1]" in missing.stderr
    assert server.cli("models", "loaded").returncode == 0
