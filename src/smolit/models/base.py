"""The model backend interface: one required typed method, ``generate``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from smolit.config import ModelDefinition

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0
    #: > 1 discourages repeating tokens (local backends; remote APIs ignore it)
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class GenerationResult:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = "stop"
    extra: dict[str, str] = field(default_factory=dict)


class ModelBackend(ABC):
    """A loaded model that turns chat messages into text.

    Backends are built from a ``ModelDefinition`` by the ``ModelManager``; constructing one
    loads it (reads weights, opens a client). ``generate`` blocks; the manager runs it in a
    worker thread so that the event loop never waits on a model.
    """

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        self.name = name
        self.definition = definition

    @classmethod
    def from_definition(
        cls, name: str, definition: ModelDefinition, *, api_key: str | None = None
    ) -> ModelBackend:
        """Build (load) the backend; ``api_key`` is resolved by the manager, if any.

        Backends that need a credential override this; the rest ignore it.
        """
        return cls(name, definition)

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        """Say cheaply, without loading, why ``definition`` cannot work; None if it may."""
        return None

    @abstractmethod
    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        """Answer the conversation ``messages``."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (weights, HTTP clients)."""
