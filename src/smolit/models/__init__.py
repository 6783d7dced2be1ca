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
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice

__all__ = [
    "BackendRegistry",
    "ChatMessage",
    "FunctionTool",
    "GenerationParams",
    "GenerationResult",
    "ModelBackend",
    "ModelManager",
    "ToolCall",
    "ToolChoice",
    "resolve_api_key",
]
