"""Language models: the backend interface, the backend registry and the model pool."""

from smolit.models.backend_registry import BackendRegistry
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
)
from smolit.models.loader import resolve_api_key
from smolit.models.manager import ModelManager

__all__ = [
    "BackendRegistry",
    "ChatMessage",
    "GenerationParams",
    "GenerationResult",
    "ModelBackend",
    "ModelManager",
    "resolve_api_key",
]
