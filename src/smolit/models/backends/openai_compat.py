"""A backend for any server speaking the OpenAI chat completions format.

One adapter serves OpenAI, vLLM, Ollama and llama.cpp servers: ``base_url`` is the API
root (``http://host:port/v1``), ``model`` the name the server expects. The API key is
passed in by the ``ModelManager``, which resolves ``api_key_env`` from the operator's
secret allowlist; this module never reads the environment. Requests go through the egress
policy: ``base_url`` is checked when the backend is built and every connection again.

``stream`` asks for ``stream: true`` and reads the server-sent events: ``data:`` lines
holding chunks whose ``choices[0].delta.content`` is the next piece of text, a last chunk
with ``usage`` (requested with ``stream_options.include_usage``), then ``data: [DONE]``.

Tools are passed natively: ``tools`` (``FunctionTool.to_openai``), ``tool_choice``
(``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "function": {"name":
...}}``) and ``parallel_tool_calls``, only when tools are offered. Assistant turns carry
their ``tool_calls`` and ``tool`` turns their ``tool_call_id``. The calls of an answer
come from ``message.tool_calls``; a stream's ``delta.tool_calls`` fragments are joined by
their ``index`` and the final event's result carries the calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.tool_calling import ToolCall, ToolChoice
from smolit.security.egress import EgressPolicy

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
DONE = "[DONE]"
BODY_EXCERPT_CHARS = 500
MAX_RETRY_AFTER = 30.0


def _excerpt(text: str) -> str:
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.function is not None:
        return {"type": "function", "function": {"name": choice.function}}
    return choice.mode


def _message(message: ChatMessage) -> dict[str, Any]:
    """One turn in the request's ``messages``."""
    entry: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        entry["tool_calls"] = [call.to_openai() for call in message.tool_calls]
        entry["content"] = message.content or None
    if message.tool_call_id is not None:
        entry["tool_call_id"] = message.tool_call_id
    return entry


def _tool_calls(entries: Any) -> tuple[ToolCall, ...]:
    """The calls of an answer's ``message.tool_calls``."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise TypeError("message tool_calls is not a list")
    calls = []
    for entry in entries:
        function = entry["function"]
        arguments = function.get("arguments") or ""
        if not isinstance(function["name"], str) or not isinstance(arguments, str):
            raise TypeError("a tool call's name and arguments must be strings")
        call_id = entry.get("id")
        calls.append(
            ToolCall(function["name"], arguments, call_id)
            if isinstance(call_id, str) and call_id
            else ToolCall(function["name"], arguments)
        )
    return tuple(calls)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["retry-after"]), MAX_RETRY_AFTER)
    except (KeyError, ValueError):
        return None


class OpenAICompatibleBackend(ModelBackend):
    """Talks to ``POST {base_url}/chat/completions`` with a synchronous httpx client."""

    def __init__(
        self,
        name: str,
        definition: ModelDefinition,
        api_key: str | None = None,
        *,
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        egress: EgressPolicy | None = None,
    ) -> None:
        """``egress``: the policy requests obey (default: public addresses only)."""
        super().__init__(name, definition)
        reason = self.check_definition(definition)
        if reason is not None:
            raise ConfigError(f"model {name!r}: {reason}", details={"model": name})
        self.url = (definition.base_url or "").rstrip("/") + "/chat/completions"
        self.remote_model = definition.model or name
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        egress = egress or EgressPolicy()
        egress.check_url(self.url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(definition.timeout, connect=min(definition.timeout, 10.0))
        self._client = egress.client(timeout=timeout, headers=headers, follow_redirects=False)

    @classmethod
    def from_definition(
        cls,
        name: str,
        definition: ModelDefinition,
        *,
        api_key: str | None = None,
        egress: EgressPolicy | None = None,
    ) -> ModelBackend:
        return cls(name, definition, api_key=api_key, egress=egress)

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        if not definition.base_url:
            return "the openai backend needs base_url (e.g. http://localhost:8080/v1)"
        if not definition.base_url.startswith(("http://", "https://")):
            return f"base_url {definition.base_url!r} must start with http:// or https://"
        return None

    def _details(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.name, "url": self.url, **extra}

    def _send(self, body: dict[str, Any], *, stream: bool = False) -> httpx.Response:
        """POST with retries on 429, 5xx and connection errors; the last answer or error wins.

        The answer is successful or ``ModelError`` names its status and body. With ``stream``
        its body is left unread: the caller reads it and closes the response.
        """
        attempt = 0
        while True:
            delay = self.backoff * (2**attempt)
            try:
                request = self._client.build_request("POST", self.url, json=body)
                response = self._client.send(request, stream=stream)
            except RETRY_ERRORS as exc:
                if attempt >= self.retries:
                    raise ModelError(
                        f"model {self.name!r}: cannot reach {self.url}: {exc}",
                        details=self._details(error=type(exc).__name__),
                    ) from exc
                logger.warning("model %r: %s, retrying in %.1fs", self.name, exc, delay)
            except httpx.HTTPError as exc:
                raise self._failure("request to", exc) from exc
            else:
                if response.is_success:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    raise self._upstream_error(response)
                response.close()
                delay = _retry_after(response) or delay
                logger.warning(
                    "model %r: upstream answered %d, retrying in %.1fs",
                    self.name,
                    response.status_code,
                    delay,
                )
            attempt += 1
            self._sleep(delay)

    def _failure(self, what: str, exc: httpx.HTTPError) -> ModelError:
        return ModelError(
            f"model {self.name!r}: {what} {self.url} failed: {type(exc).__name__}: {exc}",
            details=self._details(error=type(exc).__name__),
        )

    def _upstream_error(self, response: httpx.Response) -> ModelError:
        try:
            body = _excerpt(response.read().decode("utf-8", errors="replace"))
        except httpx.HTTPError:
            body = ""
        finally:
            response.close()
        return ModelError(
            f"model {self.name!r}: upstream answered {response.status_code}: {body[:200]}",
            details=self._details(status=response.status_code, body=body),
        )

    def _body(
        self, messages: list[ChatMessage], params: GenerationParams, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.remote_model,
            "messages": [_message(m) for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": stream,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.tools:
            body["tools"] = [tool.to_openai() for tool in params.tools]
            body["tool_choice"] = _tool_choice(params.tool_choice)
            body["parallel_tool_calls"] = params.parallel_tool_calls
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        started = time.perf_counter()
        response = self._send(self._body(messages, params, stream=False))
        return self._parse(response, time.perf_counter() - started)

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        """Server-sent events as they arrive; closing the iterator closes the connection."""
        started = time.perf_counter()
        response = self._send(self._body(messages, params, stream=True), stream=True)
        state = _StreamState(started)
        try:
            for data in self._events(response):
                if data == DONE:
                    state.done = True
                    break
                delta = self._take(state, self._chunk(data, response), response)
                if delta:
                    yield StreamEvent(delta)
        finally:
            response.close()
        if not state.done and state.finish_reason is None:
            raise ModelError(
                f"model {self.name!r}: the stream from {self.url} ended before the answer did",
                details=self._details(status=response.status_code, body=_excerpt(state.text)),
            )
        yield StreamEvent("", state.result(self.name, self.remote_model))

    def _events(self, response: httpx.Response) -> Iterator[str]:
        """The ``data`` of each server-sent event (multi-line data joined with newlines);
        a connection that breaks off mid-stream is a ``ModelError``."""
        lines: list[str] = []
        try:
            for line in response.iter_lines():
                if not line:
                    if lines:
                        yield "\n".join(lines)
                        lines = []
                elif line.startswith("data:"):
                    lines.append(line[5:].removeprefix(" "))
                # comments (":"), "event:", "id:" and "retry:" lines carry nothing we use
            if lines:
                yield "\n".join(lines)
        except httpx.HTTPError as exc:
            raise self._failure("stream from", exc) from exc

    def _take(self, state: _StreamState, chunk: dict[str, Any], response: httpx.Response) -> str:
        """``state.add``; a chunk of the wrong shape is a ``ModelError``."""
        try:
            return state.add(chunk)
        except (TypeError, AttributeError) as exc:
            raise ModelError(
                f"model {self.name!r}: malformed stream chunk from {self.url}: {exc}",
                details=self._details(status=response.status_code, body=_excerpt(str(chunk))),
            ) from exc

    def _chunk(self, data: str, response: httpx.Response) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                raise TypeError("a chunk is not a JSON object")
        except (ValueError, TypeError) as exc:
            raise ModelError(
                f"model {self.name!r}: malformed stream chunk from {self.url}: {exc}",
                details=self._details(status=response.status_code, body=_excerpt(data)),
            ) from exc
        if "error" in chunk:
            raise ModelError(
                f"model {self.name!r}: upstream failed mid-stream: {_excerpt(str(chunk['error']))}",
                details=self._details(status=response.status_code, body=_excerpt(data)),
            )
        return chunk

    def _parse(self, response: httpx.Response, seconds: float) -> GenerationResult:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            if not isinstance(text, str):
                raise TypeError("message content is not a string")
            calls = _tool_calls(choice["message"].get("tool_calls"))
            usage = data.get("usage") or {}
            return GenerationResult(
                text=text,
                model=self.name,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                seconds=seconds,
                finish_reason=str(choice.get("finish_reason") or "stop"),
                extra={"upstream_model": str(data.get("model") or self.remote_model)},
                tool_calls=calls,
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"model {self.name!r}: malformed response from {self.url}: {exc}",
                details=self._details(status=response.status_code, body=_excerpt(response.text)),
            ) from exc

    def close(self) -> None:
        self._client.close()


class _StreamState:
    """What the chunks of one stream said so far."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.pieces: list[str] = []
        self.first_token_at: float | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.upstream_model: str | None = None
        self.done = False
        self.calls = _CallFragments()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def add(self, chunk: dict[str, Any]) -> str:
        """Take in one chunk; the text it adds."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        self.upstream_model = self.upstream_model or chunk.get("model")
        choices = chunk.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if not isinstance(choice, dict):
            return ""
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta") or {}
        if isinstance(delta, dict) and delta.get("tool_calls"):
            self.calls.add(delta["tool_calls"])
        content = delta.get("content") if isinstance(delta, dict) else None
        if not isinstance(content, str) or not content:
            return ""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.pieces.append(content)
        return content

    def result(self, name: str, remote_model: str) -> GenerationResult:
        first = None if self.first_token_at is None else self.first_token_at - self.started
        return GenerationResult(
            text=self.text,
            model=name,
            prompt_tokens=int(self.usage.get("prompt_tokens") or 0),
            completion_tokens=int(self.usage.get("completion_tokens") or 0),
            seconds=time.perf_counter() - self.started,
            finish_reason=self.finish_reason or "stop",
            first_token_seconds=first,
            extra={"upstream_model": str(self.upstream_model or remote_model)},
            tool_calls=self.calls.calls(),
        )


class _CallFragments:
    """The tool calls of a stream, assembled from ``delta.tool_calls`` fragments: the
    first fragment of a call (by ``index``) names it, later ones add argument text."""

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self._arguments: dict[int, list[str]] = {}

    def add(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            raise TypeError("delta tool_calls is not a list")
        for position, fragment in enumerate(fragments):
            index = fragment.get("index", position)
            if not isinstance(index, int):
                raise TypeError("a tool call fragment's index is not an integer")
            if isinstance(fragment.get("id"), str) and fragment["id"]:
                self._ids[index] = fragment["id"]
            function = fragment.get("function") or {}
            if isinstance(function.get("name"), str) and function["name"]:
                self._names[index] = self._names.get(index, "") + function["name"]
            if isinstance(function.get("arguments"), str):
                self._arguments.setdefault(index, []).append(function["arguments"])

    def calls(self) -> tuple[ToolCall, ...]:
        calls = []
        for index in sorted(set(self._names) | set(self._arguments)):
            name = self._names.get(index, "")
            arguments = "".join(self._arguments.get(index, []))
            call_id = self._ids.get(index)
            calls.append(
                ToolCall(name, arguments, call_id) if call_id else ToolCall(name, arguments)
            )
        return tuple(calls)
