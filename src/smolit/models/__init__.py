"""Language models: the backend interface, the backend registry and the model pool."""

from smolit.models.backend_registry import (
    ENTRY_POINT_GROUP,
    BackendRegistry,
    default_registry,
    register_backend,
)
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    Role,
)
from smolit.models.loader import resolve_api_key
from smolit.models.manager import ModelManager

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendRegistry",
    "ChatMessage",
    "GenerationParams",
    "GenerationResult",
    "ModelBackend",
    "ModelManager",
    "Role",
    "default_registry",
    "register_backend",
    "resolve_api_key",
]
