"""``AgentToolbox``: the tools agents may list, and each agent's set for one run.

The installation's tools (``tools.sources``, made once into a ``ToolRegistry``) and the
built-ins that work on the system itself (``knowledge_search``, ``delegate``, made for
each run because their arguments depend on the agent). ``check`` refuses an agent that
lists a tool that does not exist, or bounds its calls beyond the installation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from smolit.agents.builtin_tools import (
    BUILTIN_TOOLS,
    DELEGATE,
    KNOWLEDGE_SEARCH,
    Delegate,
    DelegateTool,
    KnowledgeSearchTool,
    Searchable,
)
from smolit.agents.spec import AgentSpec, ToolUse
from smolit.errors import ConfigError, ValidationError
from smolit.tools.base import Tool
from smolit.tools.registry import ToolRegistry
from smolit.tools.runner import ToolCallLimits


@dataclass(frozen=True)
class LoopBounds:
    """Model calls (steps) and tool calls one run of an agent may make."""

    max_steps: int = 8
    max_tool_calls: int = 16


@dataclass(frozen=True)
class AgentTool:
    """A tool as one agent calls it: with that agent's bounds of a call."""

    tool: Tool
    limits: ToolCallLimits


def search_collections(spec: AgentSpec, use: ToolUse) -> list[str]:
    """What ``knowledge_search`` may read for ``spec``: its own collection, then those
    the tool's settings list."""
    own = [spec.knowledge_collection] if spec.knowledge_collection else []
    return list(dict.fromkeys([*own, *use.collections]))


class AgentToolbox:
    """The tools of an installation, as agents use them. ``limits``: the bounds of a call
    no agent may exceed; ``bounds``: the loop bounds of an agent that sets none."""

    def __init__(
        self,
        registry: ToolRegistry | None = None,
        limits: ToolCallLimits | None = None,
        bounds: LoopBounds | None = None,
    ) -> None:
        self.registry = registry if registry is not None else ToolRegistry()
        self.limits = limits if limits is not None else self.registry.context.limits
        self.bounds = bounds if bounds is not None else LoopBounds()
        taken = sorted(set(BUILTIN_TOOLS) & set(self.registry.names()))
        if taken:
            raise ConfigError(
                f"tool name {taken[0]!r} is the system's own tool; a tool source may not use it",
                details={"tool": taken[0]},
            )

    def names(self) -> list[str]:
        """Every tool an agent may list."""
        return sorted({*self.registry.names(), *BUILTIN_TOOLS})

    def check(self, spec: AgentSpec) -> None:
        """A ``ValidationError`` naming the first tool setting of ``spec`` that cannot
        work: an unknown tool, a bound over the installation's, a search with nothing
        to read."""
        for index, use in enumerate(spec.tools):
            where = f"agent {spec.name!r}: tools[{index}]"
            if use.name not in BUILTIN_TOOLS and use.name not in self.registry:
                known = self.names()
                raise ValidationError(
                    f"{where}: unknown tool {use.name!r}; known tools: {', '.join(known)}",
                    details={"agent": spec.name, "tool": use.name, "known": known},
                )
            self._check_bounds(spec, use, where)
            if use.name == KNOWLEDGE_SEARCH and not search_collections(spec, use):
                raise ValidationError(
                    f"{where}: knowledge_search needs the agent's knowledge_collection or "
                    "collections to search",
                    details={"agent": spec.name, "tool": use.name},
                )

    def _check_bounds(self, spec: AgentSpec, use: ToolUse, where: str) -> None:
        limits = self.limits
        if use.timeout_seconds is not None and use.timeout_seconds > limits.timeout_s:
            raise ValidationError(
                f"{where}: timeout_seconds {use.timeout_seconds:g} is over the installation's "
                f"limit of {limits.timeout_s:g} s (tools.timeout_seconds)",
                details={"agent": spec.name, "tool": use.name},
            )
        if use.max_result_bytes is not None and use.max_result_bytes > limits.max_result_bytes:
            raise ValidationError(
                f"{where}: max_result_bytes {use.max_result_bytes} is over the installation's "
                f"limit of {limits.max_result_bytes} (tools.max_result_bytes)",
                details={"agent": spec.name, "tool": use.name},
            )

    def bounds_for(self, spec: AgentSpec) -> LoopBounds:
        return LoopBounds(
            max_steps=spec.max_steps or self.bounds.max_steps,
            max_tool_calls=spec.max_tool_calls or self.bounds.max_tool_calls,
        )

    def limits_for(self, use: ToolUse) -> ToolCallLimits:
        """The installation's call bounds, narrowed by the agent's (never widened)."""
        limits = self.limits
        return replace(
            limits,
            timeout_s=min(limits.timeout_s, use.timeout_seconds or limits.timeout_s),
            max_result_bytes=min(
                limits.max_result_bytes, use.max_result_bytes or limits.max_result_bytes
            ),
        )

    def tools_for(
        self,
        spec: AgentSpec,
        knowledge: Searchable,
        delegate: Delegate | None = None,
        peers: Sequence[tuple[str, str]] = (),
    ) -> list[AgentTool]:
        """The tools ``spec`` may call in one run. ``delegate`` and ``peers`` (name and
        description of the agents it may ask): none for an agent that is itself asked, so
        delegation goes one level deep. A listed tool that is gone is left out."""
        tools: list[AgentTool] = []
        for use in spec.tools:
            tool: Tool
            if use.name == KNOWLEDGE_SEARCH:
                collections = search_collections(spec, use)
                if not collections:
                    continue
                tool = KnowledgeSearchTool(knowledge, collections)
            elif use.name == DELEGATE:
                if delegate is None or not peers:
                    continue
                tool = DelegateTool(peers, delegate)
            elif use.name in self.registry:
                tool = self.registry.get(use.name)
            else:
                continue
            tools.append(AgentTool(tool, self.limits_for(use)))
        return tools
