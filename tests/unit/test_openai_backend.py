"""The OpenAI-format backend against a real HTTP server on 127.0.0.1 (never the network)."""

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.models import ChatMessage, GenerationParams
from smolit.models.backends.openai_compat import OpenAICompatibleBackend
from smolit.models.base import StreamEvent
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.security.egress import EgressPolicy

HELLO = [ChatMessage("system", "be brief"), ChatMessage("user", "hello")]
LOOPBACK = EgressPolicy(["127.0.0.1"])  # the test servers listen there
PARAMS = GenerationParams(max_new_tokens=16, temperature=0.0)


def completion(text: str = "hi there", usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "served-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    return body


PAUSE = object()  # in a streamed reply: wait for ``FakeServer.hold`` before going on


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"model": "served-model", "choices": [choice], **extra}


USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


def events(*chunks: Any) -> list[Any]:
    """Server-sent events: each chunk as ``data: JSON`` (strings verbatim), then [DONE]."""
    return [
        part
        if part is PAUSE
        else f"data: {part if isinstance(part, str) else json.dumps(part)}\n\n"
        for part in chunks
    ]


@dataclass
class Reply:
    status: int
    parts: list[Any]
    headers: dict[str, str]
    #: Content-Length to announce; more than is sent makes a connection that breaks off
    length: int | None = None


@dataclass
class FakeServer:
    """Answers each POST with the next scripted reply, or a valid completion."""

    url: str = ""
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    stall: bool = False

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.script.append(Reply(status, [text], headers, len(text.encode())))

    def stream(self, parts: list[Any], *, cut: bool = False) -> None:
        """A streamed 200 answer; ``cut``: the connection drops before the promised end."""
        length = sum(len(p.encode()) for p in parts if isinstance(p, str)) + 100 if cut else None
        self.script.append(Reply(200, parts, {"Content-Type": "text/event-stream"}, length))


def make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            server.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "json": json.loads(self.rfile.read(length)),
                }
            )
            if server.stall:
                server.hold.wait(5)
            if not server.script:
                server.reply(200, completion())
            reply = server.script.pop(0)
            self.send_response(reply.status)
            if reply.length is not None:
                self.send_header("Content-Length", str(reply.length))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                for part in reply.parts:
                    if part is PAUSE:
                        server.hold.wait(5)
                    else:
                        self.wfile.write(part.encode())
                        self.wfile.flush()
                server.finished.set()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up mid-stream: what the early-close tests do

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield fake
    fake.hold.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


Factory = Callable[..., OpenAICompatibleBackend]


@pytest.fixture
def make_backend() -> Iterator[Factory]:
    """Builds backends (``sleep`` records the backoff delays) and closes them afterwards."""
    built: list[OpenAICompatibleBackend] = []

    def make(
        base_url: str, delays: list[float] | None = None, **options: Any
    ) -> OpenAICompatibleBackend:
        api_key = options.pop("api_key", None)
        definition = ModelDefinition(
            backend="openai", base_url=base_url, model="gpt-test", **options
        )
        sleep = (delays if delays is not None else []).append
        built.append(
            OpenAICompatibleBackend(
                "remote", definition, api_key=api_key, sleep=sleep, egress=LOOPBACK
            )
        )
        return built[-1]

    yield make
    for backend in built:
        backend.close()


def test_returns_reply_text_and_usage(server: FakeServer, make_backend: Factory) -> None:
    result = make_backend(server.url).generate(HELLO, PARAMS)
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("hi there", 7, 2)


def test_missing_usage_counts_zero_tokens(server: FakeServer, make_backend: Factory) -> None:
    server.reply(200, completion(usage=False))
    assert make_backend(server.url).generate(HELLO, PARAMS).completion_tokens == 0


def test_posts_messages_and_model_to_chat_completions(
    server: FakeServer, make_backend: Factory
) -> None:
    make_backend(server.url).generate(HELLO, PARAMS)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["model"] == "gpt-test"
    assert request["json"]["messages"][1] == {"role": "user", "content": "hello"}
    assert request["json"]["max_tokens"] == 16


def test_sends_the_api_key_as_bearer_token(server: FakeServer, make_backend: Factory) -> None:
    make_backend(server.url, api_key="sk-test").generate(HELLO, PARAMS)
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test"


def test_sends_no_authorization_without_a_key(server: FakeServer, make_backend: Factory) -> None:
    make_backend(server.url).generate(HELLO, PARAMS)
    assert "Authorization" not in server.requests[0]["headers"]


def test_retries_after_429_then_succeeds(server: FakeServer, make_backend: Factory) -> None:
    server.reply(429, {"error": "slow down"})
    delays: list[float] = []
    result = make_backend(server.url, delays).generate(HELLO, PARAMS)
    assert result.text == "hi there"
    assert len(server.requests) == 2 and delays == [0.5]


def test_honours_retry_after_header(server: FakeServer, make_backend: Factory) -> None:
    server.reply(429, {"error": "slow down"}, {"Retry-After": "3"})
    delays: list[float] = []
    make_backend(server.url, delays).generate(HELLO, PARAMS)
    assert delays == [3.0]


def test_persistent_500_raises_model_error_with_status_and_body(
    server: FakeServer, make_backend: Factory
) -> None:
    for _ in range(3):
        server.reply(500, "internal meltdown")
    with pytest.raises(ModelError, match="upstream answered 500") as info:
        make_backend(server.url).generate(HELLO, PARAMS)
    assert info.value.details["status"] == 500
    assert info.value.details["body"] == "internal meltdown"
    assert len(server.requests) == 3


def test_client_error_is_not_retried(server: FakeServer, make_backend: Factory) -> None:
    server.reply(401, {"error": "bad key"})
    with pytest.raises(ModelError) as info:
        make_backend(server.url).generate(HELLO, PARAMS)
    assert info.value.details["status"] == 401 and len(server.requests) == 1


def test_garbage_body_raises_model_error(server: FakeServer, make_backend: Factory) -> None:
    server.reply(200, "<html>not json</html>")
    with pytest.raises(ModelError, match="malformed response") as info:
        make_backend(server.url).generate(HELLO, PARAMS)
    assert "not json" in info.value.details["body"]


def test_json_without_choices_raises_model_error(server: FakeServer, make_backend: Factory) -> None:
    server.reply(200, {"object": "chat.completion"})
    with pytest.raises(ModelError, match="malformed response"):
        make_backend(server.url).generate(HELLO, PARAMS)


def test_read_timeout_raises_model_error(server: FakeServer, make_backend: Factory) -> None:
    server.stall = True
    with pytest.raises(ModelError, match=r"ReadTimeout|timed out"):
        make_backend(server.url, timeout=0.2).generate(HELLO, PARAMS)


def test_refused_connection_raises_model_error_after_retries(make_backend: Factory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    delays: list[float] = []
    with pytest.raises(ModelError, match="cannot reach"):
        make_backend(f"http://127.0.0.1:{port}/v1", delays).generate(HELLO, PARAMS)
    assert delays == [0.5, 1.0]


def test_missing_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleBackend("remote", ModelDefinition(backend="openai"))


# --- streaming ----------------------------------------------------------------------------


def collect(backend: OpenAICompatibleBackend) -> list[StreamEvent]:
    return list(backend.stream(HELLO, PARAMS))


def test_stream_yields_deltas_then_the_result(server: FakeServer, make_backend: Factory) -> None:
    server.stream(events(chunk("Hel"), chunk("lo"), chunk(finish="stop"), USAGE, "[DONE]"))
    streamed = collect(make_backend(server.url))
    assert [e.delta for e in streamed] == ["Hel", "lo", ""]
    result = streamed[-1].result
    assert result is not None and result.text == "Hello" and result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)
    assert result.first_token_seconds is not None


def test_stream_asks_for_usage_and_sends_sampling_options(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(chunk("x", finish="stop"), "[DONE]"))
    params = GenerationParams(max_new_tokens=5, top_p=0.5, stop=("\n\n", "END"))
    list(make_backend(server.url).stream(HELLO, params))
    body = server.requests[0]["json"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["top_p"], body["stop"]) == (0.5, ["\n\n", "END"])


def test_generate_sends_top_p_and_stop(server: FakeServer, make_backend: Factory) -> None:
    make_backend(server.url).generate(HELLO, GenerationParams(top_p=0.8, stop=("Q:",)))
    body = server.requests[0]["json"]
    assert (body["top_p"], body["stop"], body["stream"]) == (0.8, ["Q:"], False)


def test_first_delta_arrives_before_the_server_finishes(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(chunk("first"), PAUSE, chunk(" second", finish="stop"), "[DONE]"))
    streamed = make_backend(server.url).stream(HELLO, PARAMS)
    assert next(streamed).delta == "first"
    assert not server.finished.is_set()
    server.hold.set()
    assert [e.delta for e in streamed] == [" second", ""]


def test_stream_without_usage_counts_zero_tokens(server: FakeServer, make_backend: Factory) -> None:
    server.stream(events(chunk("ok", finish="stop"), "[DONE]"))
    result = collect(make_backend(server.url))[-1].result
    assert result is not None and (result.text, result.completion_tokens) == ("ok", 0)


def test_stream_ignores_comments_and_role_only_chunks(
    server: FakeServer, make_backend: Factory
) -> None:
    role = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    server.stream([": keep-alive\n\n", *events(role, chunk("hi", finish="stop"), "[DONE]")])
    assert [e.delta for e in collect(make_backend(server.url))] == ["hi", ""]


def test_stream_retries_after_503_then_streams(server: FakeServer, make_backend: Factory) -> None:
    server.reply(503, {"error": "warming up"})
    server.stream(events(chunk("up", finish="stop"), "[DONE]"))
    delays: list[float] = []
    assert collect(make_backend(server.url, delays))[-1].result is not None
    assert delays == [0.5] and len(server.requests) == 2


def test_stream_upstream_error_names_status_and_body(
    server: FakeServer, make_backend: Factory
) -> None:
    server.reply(400, {"error": "context too long"})
    with pytest.raises(ModelError, match="upstream answered 400") as info:
        collect(make_backend(server.url))
    assert "context too long" in info.value.details["body"]


def test_malformed_chunk_raises_model_error(server: FakeServer, make_backend: Factory) -> None:
    server.stream(events(chunk("fine"), "{not json", "[DONE]"))
    with pytest.raises(ModelError, match="malformed stream chunk") as info:
        collect(make_backend(server.url))
    assert info.value.details["body"] == "{not json"


def test_connection_dropped_mid_stream_raises_model_error(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(chunk("partial")), cut=True)
    with pytest.raises(ModelError, match=r"stream from .* failed"):
        collect(make_backend(server.url))


def test_stream_ending_without_done_or_finish_raises_model_error(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(chunk("half an answer")))
    with pytest.raises(ModelError, match="ended before the answer did"):
        collect(make_backend(server.url))


def test_error_event_mid_stream_raises_model_error(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(chunk("a"), {"error": {"message": "out of memory"}}))
    with pytest.raises(ModelError, match="out of memory"):
        collect(make_backend(server.url))


# --- tool calling -------------------------------------------------------------------------

WEATHER = FunctionTool(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def call_reply(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "tool_calls": list(calls)}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (ToolChoice("auto"), "auto"),
        (ToolChoice("none"), "none"),
        (ToolChoice("required"), "required"),
        (
            ToolChoice.named("get_weather"),
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_sends_tools_tool_choice_and_parallel_calls(
    server: FakeServer, make_backend: Factory, choice: ToolChoice, sent: Any
) -> None:
    params = GenerationParams(tools=(WEATHER,), tool_choice=choice, parallel_tool_calls=False)
    make_backend(server.url).generate(HELLO, params)
    body = server.requests[0]["json"]
    assert body["tools"] == [WEATHER.to_openai()]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == (sent, False)


def test_sends_no_tool_fields_without_tools(server: FakeServer, make_backend: Factory) -> None:
    make_backend(server.url).generate(HELLO, PARAMS)
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(server.requests[0]["json"])


def test_sends_assistant_calls_and_tool_results(server: FakeServer, make_backend: Factory) -> None:
    call = ToolCall("get_weather", '{"city": "Oslo"}', "call_1")
    history = [
        ChatMessage("user", "weather in Oslo?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"temp": 3}', tool_call_id="call_1"),
    ]
    make_backend(server.url).generate(history, GenerationParams(tools=(WEATHER,)))
    sent = server.requests[0]["json"]["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]}
    assert sent[2] == {"role": "tool", "content": '{"temp": 3}', "tool_call_id": "call_1"}


def test_returns_the_calls_of_the_answer(server: FakeServer, make_backend: Factory) -> None:
    server.reply(
        200,
        call_reply(
            openai_call("call_a", "get_weather", '{"city": "Oslo"}'),
            openai_call("call_b", "get_weather", '{"city": "Rome"'),
        ),
    )
    result = make_backend(server.url).generate(HELLO, GenerationParams(tools=(WEATHER,)))
    assert result.text == "" and result.finish_reason == "tool_calls"
    assert result.tool_calls == (
        ToolCall("get_weather", '{"city": "Oslo"}', "call_a"),
        ToolCall("get_weather", '{"city": "Rome"', "call_b"),  # as sent: the caller validates
    )


def test_a_call_without_a_name_is_a_malformed_response(
    server: FakeServer, make_backend: Factory
) -> None:
    server.reply(200, call_reply({"id": "call_a", "type": "function", "function": {}}))
    with pytest.raises(ModelError, match="malformed response"):
        make_backend(server.url).generate(HELLO, GenerationParams(tools=(WEATHER,)))


def call_chunk(index: int, **fragment: Any) -> dict[str, Any]:
    return chunk(
        None,
        None,
        choices=[
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": index, **fragment}]},
                "finish_reason": None,
            }
        ],
    )


def test_stream_joins_call_fragments_into_the_final_result(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(
        events(
            call_chunk(0, id="call_a", type="function", function={"name": "get_weather"}),
            call_chunk(0, function={"arguments": '{"city": '}),
            call_chunk(1, id="call_b", type="function", function={"name": "get_weather"}),
            call_chunk(0, function={"arguments": '"Oslo"}'}),
            call_chunk(1, function={"arguments": '{"city": "Rome"}'}),
            chunk(finish="tool_calls"),
            "[DONE]",
        )
    )
    streamed = list(make_backend(server.url).stream(HELLO, GenerationParams(tools=(WEATHER,))))
    assert [e.delta for e in streamed] == [""]
    result = streamed[-1].result
    assert result is not None and result.finish_reason == "tool_calls"
    assert result.tool_calls == (
        ToolCall("get_weather", '{"city": "Oslo"}', "call_a"),
        ToolCall("get_weather", '{"city": "Rome"}', "call_b"),
    )


def test_stream_with_a_malformed_call_fragment_raises_model_error(
    server: FakeServer, make_backend: Factory
) -> None:
    server.stream(events(call_chunk(0, function="get_weather"), "[DONE]"))
    with pytest.raises(ModelError, match="malformed stream chunk"):
        list(make_backend(server.url).stream(HELLO, GenerationParams(tools=(WEATHER,))))
