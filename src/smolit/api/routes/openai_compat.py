"""``/v1``: an OpenAI-compatible API (``/v1/models``, ``/v1/chat/completions``).

``model`` names a registered model (``name``, ``name@alias``, ``name@version``): the model
answers directly. ``model: "agent-nn"`` hands the last user message to the system as a
task: the router picks the agent, the agent answers with its knowledge and its model, and
the task is stored like any other (its id comes back in ``agent_nn``). Streaming uses
server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``.

Tool calling is OpenAI's: ``tools``, ``tool_choice`` and ``parallel_tool_calls`` reach the
model's ``GenerationParams``; its calls come back as ``message.tool_calls`` (streamed as
OpenAI's ``tool_calls`` deltas); ``tool`` messages carry the results into the next request.
The request's tool parts are checked in ``smolit.api.openai_messages``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.openai_chunks import Chunks, error_event, sse, tool_call_deltas
from smolit.api.openai_messages import (
    MAX_TOOLS,
    Message,
    ToolChoiceParam,
    ToolParam,
    conversation,
    request_tools,
)
from smolit.api.outputs import ChatCompletion, ModelObject, ModelObjects
from smolit.api.responses import AUTHENTICATED, errors, success
from smolit.api.schemas import Text
from smolit.errors import SmolitError, ValidationError
from smolit.models.base import GenerationParams, GenerationResult
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.security.permissions import require_privilege
from smolit.security.tokens import Principal
from smolit.system import AgentNN

router = APIRouter(prefix="/v1", tags=["openai"], responses=AUTHENTICATED)

ROUTED_MODEL = "agent-nn"
STREAMED = "with `stream: true`: server-sent chat.completion.chunk objects, then [DONE]"
OWNER = "agent-nn"


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
    tools: list[ToolParam] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoiceParam | None = None
    parallel_tool_calls: bool = True
    functions: Any = Field(None, description="deprecated by OpenAI, refused: send tools")
    function_call: Any = Field(None, description="deprecated by OpenAI, refused: send tool_choice")

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

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _choice_word(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("auto", "none", "required"):
            raise ValueError(
                f"{value[:40]!r}: use 'auto', 'none', 'required' or "
                '{"type": "function", "function": {"name": ...}}'
            )
        return value

    @field_validator("functions", "function_call")
    @classmethod
    def _deprecated(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            instead = "tools" if info.field_name == "functions" else "tool_choice"
            raise ValueError(f"deprecated by OpenAI and not supported: send {instead}")
        return value


def _params(
    system: AgentNN, body: ChatRequest, tools: tuple[FunctionTool, ...], choice: ToolChoice
) -> GenerationParams:
    defaults = system.models.default_params(body.model)
    return GenerationParams(
        max_new_tokens=body.max_completion_tokens or body.max_tokens or defaults.max_new_tokens,
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        repetition_penalty=defaults.repetition_penalty,
        stop=body.stops(),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=body.parallel_tool_calls,
    )


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _finish(result: GenerationResult) -> str:
    return "tool_calls" if result.tool_calls else result.finish_reason


def _completion(
    model: str,
    text: str,
    finish: str,
    usage: dict[str, int],
    extra: dict[str, Any],
    calls: tuple[ToolCall, ...] = (),
) -> ChatCompletion:
    """The reply; ``content`` is null when the model only called tools."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["content"] = text or None
        message["tool_calls"] = [call.to_openai() for call in calls]
    return ChatCompletion.model_validate(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
            **extra,
        }
    )


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
    """Chat with a registered model, or with the whole system as ``agent-nn``.

    With ``tools``, the model may answer with ``tool_calls`` (``finish_reason:
    "tool_calls"``); the client runs them and continues the conversation with ``tool``
    messages. ``agent-nn`` refuses tools: its agents call the tools of their own
    configuration."""
    if body.model == ROUTED_MODEL:
        return await _routed(system, body, principal)
    require_privilege(
        principal,
        system.settings.security.privileged_roles,
        f"calling a model directly through /v1 (model {body.model!r}; "
        f"{ROUTED_MODEL!r} is open to every token)",
    )
    tools, choice = await asyncio.to_thread(request_tools, body.tools, body.tool_choice)
    messages = conversation(body.messages)
    params = await asyncio.to_thread(_params, system, body, tools, choice)
    if not body.stream:
        result = await system.models.generate(body.model, messages, params)
        return _completion(
            body.model, result.text, _finish(result), _usage(result), {}, result.tool_calls
        )
    events = system.models.stream(body.model, messages, params)
    first = await anext(events)  # resolution and load errors become a normal HTTP error
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    chunks = Chunks(body.model)
    # OpenAI opens with a null content when the answer is only calls
    calls_only = first.result is not None and bool(first.result.tool_calls) and not first.delta

    async def stream() -> AsyncIterator[bytes]:
        yield sse(chunks.chunk({"role": "assistant", "content": None if calls_only else ""}))
        event = first
        try:
            while True:
                if event.delta:
                    yield sse(chunks.chunk({"content": event.delta}))
                if event.result is not None:
                    for delta in tool_call_deltas(event.result.tool_calls):
                        yield sse(chunks.chunk(delta))
                    yield sse(chunks.chunk({}, _finish(event.result)))
                    if include_usage:
                        yield sse(chunks.usage(_usage(event.result)))
                    break
                event = await anext(events)
        except StopAsyncIteration:
            yield sse(chunks.chunk({}, "stop"))
        except Exception as exc:  # sent as an error event: the status line is already out
            yield error_event(exc)
            return
        finally:
            await events.aclose()
        yield sse("[DONE]")

    return StreamingResponse(stream(), media_type="text/event-stream")


def _refuse_tools(body: ChatRequest) -> None:
    """``agent-nn`` takes the last user message as a task: tools the client would run, and
    tool turns the client ran, have no place in it."""
    if body.tools or body.tool_choice not in (None, "auto", "none"):
        field = "tools" if body.tools else "tool_choice"
        raise ValidationError(
            f"{field}: {ROUTED_MODEL!r} does not take tools; its agents call the tools of "
            "their own configuration. Name a model to have it call your tools",
            details={"field": field},
        )
    for index, message in enumerate(body.messages):
        if message.role == "tool" or message.tool_calls:
            raise ValidationError(
                f"messages.{index}: {ROUTED_MODEL!r} answers the last user message as a "
                "task and takes no tool calls or tool results; name a model to continue a "
                "tool-calling conversation",
                details={"field": f"messages.{index}"},
            )


async def _routed(
    system: AgentNN, body: ChatRequest, principal: Principal
) -> ChatCompletion | StreamingResponse:
    """The last user message becomes a task; the routed agent's answer is the reply."""
    _refuse_tools(body)
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
    chunks = Chunks(ROUTED_MODEL)

    async def stream() -> AsyncIterator[bytes]:
        yield sse(chunks.chunk({"role": "assistant", "content": ""}, extra=extra))
        if answer:
            yield sse(chunks.chunk({"content": answer}))
        yield sse(chunks.chunk({}, "stop"))
        if body.stream_options is not None and body.stream_options.include_usage:
            yield sse(chunks.usage(usage))
        yield sse("[DONE]")

    return StreamingResponse(stream(), media_type="text/event-stream")
