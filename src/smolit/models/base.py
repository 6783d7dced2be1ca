"""The model backend interface: ``generate`` (required), ``stream`` and memory accounting."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from smolit.config import ModelDefinition
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.security.egress import EgressPolicy

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn. An assistant turn may carry the ``tool_calls`` it made (its ``content``
    may then be empty); a ``tool`` turn is the result of the call ``tool_call_id``."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0
    #: nucleus sampling; only used when ``temperature`` > 0
    top_p: float = 1.0
    #: > 1 discourages repeating tokens (local backends; remote APIs ignore it)
    repetition_penalty: float = 1.0
    #: generation ends before any of these strings; they are not part of the text
    stop: tuple[str, ...] = ()
    #: functions the model may call instead of (or before) answering in text
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    #: whether one answer may hold several calls
    parallel_tool_calls: bool = True


@dataclass(frozen=True)
class GenerationResult:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = "stop"
    #: seconds from the call to the first generated token, when the backend can tell
    first_token_seconds: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: the calls the model proposes (``finish_reason`` is then ``"tool_calls"``)
    tool_calls: tuple[ToolCall, ...] = ()


#: the JSON types of each ``GenerationResult`` field, as the response cache stores it
_RESULT_FIELDS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "model": (str,),
    "prompt_tokens": (int,),
    "completion_tokens": (int,),
    "seconds": (int, float),
    "finish_reason": (str,),
    "first_token_seconds": (int, float, type(None)),
    "extra": (dict,),
    "tool_calls": (list,),
}


class GenerationResultCodec:
    """``GenerationResult`` as JSON data and back, for the response cache other processes
    share: ``load`` accepts exactly the fields ``dump`` writes, each of its JSON type."""

    def dump(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, GenerationResult):
            raise TypeError(f"expected a GenerationResult, not {type(value).__qualname__}")
        data = dataclasses.asdict(value)
        data["tool_calls"] = [dataclasses.asdict(call) for call in value.tool_calls]
        return data

    def load(self, data: Any) -> GenerationResult:
        if not isinstance(data, dict) or set(data) != set(_RESULT_FIELDS):
            raise ValueError("not a generation result: the fields differ")
        for name, types in _RESULT_FIELDS.items():
            if isinstance(data[name], bool) or not isinstance(data[name], types):
                raise ValueError(f"not a generation result: {name!r} has the wrong type")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["extra"].items()):
            raise ValueError("not a generation result: 'extra' must map strings to strings")
        calls = tuple(_load_call(call) for call in data["tool_calls"])
        return GenerationResult(**{**data, "tool_calls": calls})


def _load_call(data: Any) -> ToolCall:
    if (
        not isinstance(data, dict)
        or set(data) != {"id", "name", "arguments"}
        or not all(isinstance(value, str) for value in data.values())
    ):
        raise ValueError("not a generation result: a tool call has the wrong fields")
    return ToolCall(name=data["name"], arguments=data["arguments"], id=data["id"])


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed generation: a text ``delta``; the last event carries
    ``result`` (the whole text, token counts, timings) and usually an empty delta."""

    delta: str
    result: GenerationResult | None = None


class ModelBackend(ABC):
    """A loaded model that turns chat messages into text.

    Backends are built from a ``ModelDefinition`` by the ``ModelManager``; constructing one
    loads it (reads weights, opens a client). ``generate`` and ``stream`` block; the manager
    runs them in worker threads so that the event loop never waits on a model.
    """

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        self.name = name
        self.definition = definition

    @classmethod
    def from_definition(
        cls,
        name: str,
        definition: ModelDefinition,
        *,
        api_key: str | None = None,
        egress: EgressPolicy | None = None,
    ) -> ModelBackend:
        """Build (load) the backend; ``api_key`` is resolved by the manager, if any.

        Backends that need a credential override this; the rest ignore it. Backends that
        make network requests make them through ``egress`` (``EgressPolicy.client``).
        """
        return cls(name, definition)

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        """Say cheaply, without loading, why ``definition`` cannot work; None if it may."""
        return None

    @classmethod
    def estimate_memory_bytes(cls, definition: ModelDefinition) -> int:
        """Resident memory a load of ``definition`` will take, estimated without loading
        (the pool's budget check); 0 for backends that hold no weights."""
        return 0

    @abstractmethod
    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        """Answer the conversation ``messages``."""

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> Iterator[StreamEvent]:
        """Answer token by token. Closing the iterator early stops the generation.

        The default generates the whole answer and yields it as one delta; backends that
        can do better override it.
        """
        result = self.generate(messages, params)
        if result.text:
            yield StreamEvent(result.text)
        yield StreamEvent("", result)

    def memory_bytes(self) -> int:
        """Resident memory the loaded model holds (weights, caches); 0 when it holds none."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (weights, HTTP clients)."""
