"""``/v1``: an OpenAI-compatible API (``/v1/models``, ``/v1/chat/completions``).

``model`` names a registered model (``name``, ``name@alias``, ``name@version``): the model
answers directly. ``model: "agent-nn"`` hands the last user message to the system as a
task: the router picks the agent, the agent answers with its knowledge and its model, and
the task is stored like any other (its id comes back in ``agent_nn``). Streaming uses
server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.outputs import ChatCompletion, ModelObject, ModelObjects
from smolit.api.responses import AUTHENTICATED, errors, success
from smolit.api.schemas import Text
from smolit.errors import SmolitError, ValidationError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.security.permissions import require_privilege
from smolit.security.tokens import Principal
from smolit.system import AgentNN

router = APIRouter(prefix="/v1", tags=["openai"], responses=AUTHENTICATED)

ROUTED_MODEL = "agent-nn"
STREAMED = "with `stream: true`: server-sent chat.completion.chunk objects, then [DONE]"
OWNER = "agent-nn"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: Text


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[ContentPart] = Field(max_length=1_000_000)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request body; fields this server cannot honour are refused, not ignored."""

    model_config = ConfigDict(extra="ignore")
    model: Text = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=1000)
    max_tokens: int | None = Field(None, ge=1, le=32_768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32_768)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: Text | list[Text] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    tools: list[Any] | None = Field(None, max_length=0, description="not supported")

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("at most 4 non-empty stop strings")
        return value

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def chat(self) -> list[ChatMessage]:
        return [
            ChatMessage("system" if m.role == "developer" else m.role, m.text())
            for m in self.messages
        ]


def _params(system: AgentNN, body: ChatRequest) -> GenerationParams:
    defaults = system.models.default_params(body.model)
    return GenerationParams(
        max_new_tokens=body.max_completion_tokens or body.max_tokens or defaults.max_new_tokens,
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        repetition_penalty=defaults.repetition_penalty,
        stop=body.stops(),
    )


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _completion(
    model: str, text: str, finish: str, usage: dict[str, int], extra: dict[str, Any]
) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            **extra,
        }
    )


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


class _Chunks:
    """Builds the chunk objects of one streamed completion."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def chunk(
        self, delta: dict[str, str], finish: str | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **(extra or {}),
        }

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


def _error_event(exc: Exception) -> bytes:
    if isinstance(exc, SmolitError):
        error = {"type": exc.kind, "message": exc.message, "details": exc.details or {}}
    else:
        error = {"type": "internal_error", "message": "internal server error", "details": {}}
    return _sse({"error": error})


@router.get("/models", response_model=ModelObjects)
async def list_models(system: SystemDep, _principal: PrincipalDep) -> ModelObjects:
    """``agent-nn`` (routed) and every language model, as OpenAI model objects."""
    names = [ROUTED_MODEL, *await asyncio.to_thread(system.models.names)]
    created = int(time.time())
    return ModelObjects(
        object="list",
        data=[ModelObject(id=n, object="model", created=created, owned_by=OWNER) for n in names],
    )


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    response_model_exclude_unset=True,
    responses=success(STREAMED, media_type="text/event-stream") | errors(403, 404, 502, 503),
)
async def chat_completions(
    body: ChatRequest, system: SystemDep, principal: PrincipalDep
) -> ChatCompletion | StreamingResponse:
    """Chat with a registered model, or with the whole system as ``agent-nn``."""
    if body.model == ROUTED_MODEL:
        return await _routed(system, body, principal)
    require_privilege(
        principal,
        system.settings.security.privileged_roles,
        f"calling a model directly through /v1 (model {body.model!r}; "
        f"{ROUTED_MODEL!r} is open to every token)",
    )
    params = await asyncio.to_thread(_params, system, body)
    messages = body.chat()
    if not body.stream:
        result = await system.models.generate(body.model, messages, params)
        return _completion(body.model, result.text, result.finish_reason, _usage(result), {})
    events = system.models.stream(body.model, messages, params)
    first = await anext(events)  # resolution and load errors become a normal HTTP error
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    chunks = _Chunks(body.model)

    async def stream() -> AsyncIterator[bytes]:
        yield _sse(chunks.chunk({"role": "assistant", "content": ""}))
        event = first
        try:
            while True:
                if event.delta:
                    yield _sse(chunks.chunk({"content": event.delta}))
                if event.result is not None:
                    yield _sse(chunks.chunk({}, event.result.finish_reason))
                    if include_usage:
                        yield _sse(chunks.usage(_usage(event.result)))
                    break
                event = await anext(events)
        except StopAsyncIteration:
            yield _sse(chunks.chunk({}, "stop"))
        except Exception as exc:  # sent as an error event: the status line is already out
            yield _error_event(exc)
            return
        finally:
            await events.aclose()
        yield _sse("[DONE]")

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _routed(
    system: AgentNN, body: ChatRequest, principal: Principal
) -> ChatCompletion | StreamingResponse:
    """The last user message becomes a task; the routed agent's answer is the reply."""
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise ValidationError(
            "messages: agent-nn needs at least one user message",
            details={"field": "messages"},
        )
    submitted = await system.tasks.submit(users[-1].text(), principal)
    view = await system.tasks.get(
        submitted.id, principal, wait=system.settings.system.task_timeout + 5
    )
    if view.error and not view.answer:
        raise SmolitError(f"task {view.id} {view.status.value}: {view.error}")
    answer = view.answer or ""
    extra = {
        "agent_nn": {
            "task_id": view.id,
            "status": view.status.value,
            "agent": view.agent,
            "model": view.model,
            "out_of_scope": view.out_of_scope,
            "sources": view.sources,
        }
    }
    prompt = int(view.usage.get("prompt_tokens", 0))
    completion = int(view.usage.get("completion_tokens", 0))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if not body.stream:
        return _completion(ROUTED_MODEL, answer, "stop", usage, extra)
    chunks = _Chunks(ROUTED_MODEL)

    async def stream() -> AsyncIterator[bytes]:
        yield _sse(chunks.chunk({"role": "assistant", "content": ""}, extra=extra))
        if answer:
            yield _sse(chunks.chunk({"content": answer}))
        yield _sse(chunks.chunk({}, "stop"))
        if body.stream_options is not None and body.stream_options.include_usage:
            yield _sse(chunks.usage(usage))
        yield _sse("[DONE]")

    return StreamingResponse(stream(), media_type="text/event-stream")
