"""Agent-NN: a self-hosted multi-agent system with a learned neural router."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from smolit.system import AgentNN

__all__ = ["AgentNN", "__version__"]


def __getattr__(name: str) -> Any:
    # imported lazily: the CLI must start without loading torch
    if name == "AgentNN":
        from smolit.system import AgentNN

        return AgentNN
    raise AttributeError(f"module 'smolit' has no attribute {name!r}")
