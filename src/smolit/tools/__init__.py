"""Tools agents call: the ``Tool`` interface, the bounded runner, factories from the
``smolit.tools`` entry-point group, the registry, and the built-in ``calculator``."""

from smolit.tools.base import JsonValue, Tool, ToolResult, ToolSpec
from smolit.tools.context import ToolContext
from smolit.tools.factories import ENTRY_POINT_GROUP, ToolFactories, ToolFactory
from smolit.tools.registry import ToolRegistry
from smolit.tools.runner import ToolCallLimits, ToolCallOutcome, ToolCallRecord, run_tool_call

__all__ = [
    "ENTRY_POINT_GROUP",
    "JsonValue",
    "Tool",
    "ToolCallLimits",
    "ToolCallOutcome",
    "ToolCallRecord",
    "ToolContext",
    "ToolFactories",
    "ToolFactory",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "run_tool_call",
]
