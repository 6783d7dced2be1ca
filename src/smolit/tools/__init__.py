"""Tools agents call: the ``Tool`` interface, the bounded runner, factories from the
``smolit.tools`` entry-point group, the registry, and the built-in ``calculator``."""

from smolit.tools.base import JsonValue, Tool, ToolResult, ToolSpec

__all__ = [
    "JsonValue",
    "Tool",
    "ToolResult",
    "ToolSpec",
]
