"""``AgentToolbox``: which tools an agent gets, with which bounds, and what it refuses."""

from __future__ import annotations

import pytest

from smolit.agents.spec import AgentSpec, ToolUse
from smolit.agents.toolbox import AgentToolbox
from smolit.errors import ConfigError, ValidationError
from smolit.tools import ToolCallLimits, ToolRegistry
from smolit.tools.calculator import CalculatorTool
from tests.unit.tool_doubles import Echo


class NoKnowledge:
    async def search(self, collection: str, query: str, top_k: int | None = None) -> list[object]:
        return []


def toolbox() -> AgentToolbox:
    registry = ToolRegistry()
    registry.add(CalculatorTool())
    registry.add(Echo())
    return AgentToolbox(registry, ToolCallLimits(timeout_s=10, max_result_bytes=5000))


def agent(*tools: ToolUse, collection: str | None = None) -> AgentSpec:
    return AgentSpec(name="a", description="a", tools=tools, knowledge_collection=collection)


def test_an_agent_gets_only_the_tools_it_lists() -> None:
    tools = toolbox().tools_for(agent(ToolUse("echo")), NoKnowledge())
    assert [tool.tool.name for tool in tools] == ["echo"]


def test_an_agent_s_bounds_narrow_the_installation_s() -> None:
    [tool] = toolbox().tools_for(agent(ToolUse("echo", timeout_seconds=2)), NoKnowledge())
    assert (tool.limits.timeout_s, tool.limits.max_result_bytes) == (2, 5000)


def test_a_bound_beyond_the_installation_s_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_result_bytes 9000 is over"):
        toolbox().check(agent(ToolUse("echo", max_result_bytes=9000)))


def test_knowledge_search_reads_the_agent_s_collection_and_those_listed() -> None:
    use = ToolUse("knowledge_search", collections=("faq",))
    [tool] = toolbox().tools_for(agent(use, collection="docs"), NoKnowledge())
    enum = tool.tool.spec.parameters["properties"]["collection"]["enum"]
    assert enum == ["docs", "faq"]


def test_knowledge_search_with_nothing_to_read_is_refused() -> None:
    with pytest.raises(ValidationError, match="knowledge_search needs"):
        toolbox().check(agent(ToolUse("knowledge_search")))


def test_a_tool_source_may_not_take_a_built_in_name() -> None:
    registry = ToolRegistry()
    registry.add(Echo(name="delegate"))
    with pytest.raises(ConfigError, match="'delegate' is the system's own tool"):
        AgentToolbox(registry)


def test_tool_entries_parse_from_names_and_settings() -> None:
    assert ToolUse.parse("calculator") == ToolUse("calculator")
    with pytest.raises(ConfigError, match="collections are a setting of knowledge_search"):
        ToolUse.parse({"name": "calculator", "collections": ["x"]})
