"""``ToolCatalog``: the tools one MCP server offers, kept across its tool lists.

Each listing (at every connection, and when the server says its tool list changed) is
taken with ``update``: a known tool gets its new spec (its ``McpTool`` stays the same
object, so a registry that holds it sees the change), a new tool gets its ``McpTool``, a
tool no longer listed is no longer ``offered``. A tool the settings do not select, or
whose schema is not a valid JSON Schema (left out with a warning), is not offered.
Listeners are called with the tools offered after each listing that changed them.

A tool is idempotent (repeated when a task is re-run) when the server marks it
``readOnlyHint`` or ``idempotentHint``; the hints are only hints, so a tool without them
is not. The server's settings may decide for all its tools instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import mcp_types as types

from smolit.errors import ConfigError
from smolit.tools.base import ToolSpec
from smolit.tools.mcp.naming import ToolNames
from smolit.tools.mcp.tool import McpTool

logger = logging.getLogger(__name__)

ToolsChanged = Callable[[list[McpTool]], None]
#: makes the ``McpTool`` of a spec and the tool's MCP name
MakeTool = Callable[[ToolSpec, str], McpTool]


def is_idempotent(tool: types.Tool, declared: bool | None) -> bool:
    """``declared``, or else what the tool's annotations hint."""
    if declared is not None:
        return declared
    hints = tool.annotations
    return hints is not None and bool(hints.read_only_hint or hints.idempotent_hint)


class ToolCatalog:
    """The tools of server ``server`` (thread-safe)."""

    def __init__(
        self,
        server: str,
        *,
        prefix: str,
        names: ToolNames,
        make_tool: MakeTool,
        select: frozenset[str] | None = None,
        idempotent: bool | None = None,
    ) -> None:
        self.server = server
        self._prefix = prefix
        self._names = names
        self._make_tool = make_tool
        self._select = select
        self._idempotent = idempotent
        self._lock = threading.Lock()
        self._tools: dict[str, McpTool] = {}  # by MCP name, every tool ever offered
        self._offered: list[str] = []  # MCP names offered now, in the server's order
        self._listeners: list[ToolsChanged] = []

    def offered(self) -> list[McpTool]:
        """The tools offered now, in the server's order."""
        with self._lock:
            return [self._tools[name] for name in self._offered]

    def offers(self, mcp_name: str) -> bool:
        with self._lock:
            return mcp_name in self._offered

    def on_change(self, callback: ToolsChanged) -> None:
        with self._lock:
            self._listeners.append(callback)

    def _spec(self, tool: types.Tool) -> ToolSpec | None:
        description = (tool.description or tool.title or "").strip() or (
            f"The tool {tool.name!r} of the MCP server {self.server!r}."
        )
        try:
            return ToolSpec(
                name=self._names.name(self.server, self._prefix, tool.name),
                description=description,
                parameters=tool.input_schema,
                idempotent=is_idempotent(tool, self._idempotent),
            )
        except ConfigError as exc:
            logger.warning("MCP server %r: tool %r left out: %s", self.server, tool.name, exc)
            return None

    def update(self, listed: list[types.Tool]) -> None:
        """Take a new tool list of the server."""
        changed = False
        with self._lock:
            offered: list[str] = []
            for tool in listed:
                skip = self._select is not None and tool.name not in self._select
                if skip or tool.name in offered:
                    continue
                spec = self._spec(tool)
                if spec is None:
                    continue
                offered.append(tool.name)
                known = self._tools.get(tool.name)
                if known is None:
                    self._tools[tool.name] = self._make_tool(spec, tool.name)
                    changed = True
                elif known.spec != spec:
                    known.spec = spec
                    changed = True
            changed = changed or offered != self._offered
            self._offered = offered
            listeners = list(self._listeners)
            current = [self._tools[name] for name in offered]
        if changed:
            logger.info("MCP server %r offers %d tools", self.server, len(current))
            for callback in listeners:
                try:
                    callback(current)
                except Exception:  # a listener's failure must not break the connection
                    logger.warning(
                        "MCP server %r: a tools listener failed", self.server, exc_info=True
                    )
