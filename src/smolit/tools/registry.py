"""``ToolRegistry``: the tools a process can call, by their unique name.

Tools arrive from factories (``load``, see ``smolit.tools.factories``) or from code
(``add``). Tool names are what models call, so two tools with one name are a
``ConfigError`` that names where each came from; a factory's tools are added all or none.
An unknown name is a ``NotFoundError`` that lists the known ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from smolit.errors import ConfigError, NotFoundError
from smolit.tools.base import Tool
from smolit.tools.context import ToolContext
from smolit.tools.factories import ToolFactories

logger = logging.getLogger(__name__)

#: where a tool added with ``add`` came from, in messages
FROM_CODE = "code"


class ToolRegistry:
    """Tools by name, and where each came from.

    ``context`` is what every factory receives with its settings (default:
    ``ToolContext()``, public addresses only and no secrets).
    """

    def __init__(
        self, factories: ToolFactories | None = None, context: ToolContext | None = None
    ) -> None:
        self.factories = factories if factories is not None else ToolFactories()
        self.context = context if context is not None else ToolContext()
        self._tools: dict[str, Tool] = {}
        self._sources: dict[str, str] = {}
        self._lock = threading.Lock()

    def _add_all(self, tools: Sequence[Tool], source: str) -> None:
        with self._lock:
            seen: dict[str, str] = dict(self._sources)
            for tool in tools:
                if tool.name in seen:
                    raise ConfigError(
                        f"tool name {tool.name!r} from {source} is taken (by a tool from "
                        f"{seen[tool.name]}); tool names must be unique",
                        details={"tool": tool.name, "source": source, "taken_by": seen[tool.name]},
                    )
                seen[tool.name] = source
            for tool in tools:
                self._tools[tool.name] = tool
                self._sources[tool.name] = source

    def add(self, tool: Tool) -> None:
        """Add one tool made in code."""
        self._add_all([tool], FROM_CODE)

    def load(self, factory: str, settings: Mapping[str, Any] | None = None) -> list[Tool]:
        """Make the tools of ``factory`` from ``settings`` (in the registry's context) and
        add them; returns them."""
        tools = self.factories.build(factory, settings, self.context)
        self._add_all(tools, f"factory {factory!r}")
        return tools

    def names(self) -> list[str]:
        """Every tool name, sorted."""
        with self._lock:
            return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._tools

    def get(self, name: str) -> Tool:
        """The tool called ``name``; a ``NotFoundError`` listing the known tools if none."""
        with self._lock:
            tool = self._tools.get(name)
            if tool is not None:
                return tool
            known = sorted(self._tools)
        raise NotFoundError(
            f"unknown tool {name!r}; known tools: {', '.join(known) or 'none'}",
            details={"tool": name, "known": known},
        )

    async def aclose(self) -> None:
        """Close every tool (``Tool.aclose``: connections, server processes); a tool that
        fails to close is logged, the others are closed all the same."""
        with self._lock:
            tools = list(self._tools.values())
        for tool in tools:
            try:
                await tool.aclose()
            except Exception:  # one tool's failure must not keep the others open
                logger.warning("closing tool %r failed", tool.name, exc_info=True)
