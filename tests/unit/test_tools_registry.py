"""Tool factories from entry points, and the registry of tools by unique name."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from smolit.errors import ConfigError, NotFoundError
from smolit.security.egress import EgressPolicy
from smolit.tools import (
    ENTRY_POINT_GROUP,
    Tool,
    ToolCallLimits,
    ToolContext,
    ToolFactories,
    ToolRegistry,
    ToolResult,
    ToolSpec,
)

HERE = "tests.unit.test_tools_registry"


class NamedTool(Tool):
    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | None = None,
        context: ToolContext | None = None,
    ) -> None:
        super().__init__(ToolSpec(name=name, description=f"the {name} tool"))
        self.settings = dict(settings or {})
        self.context = context

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(self.name)


def weather_tools(settings: Mapping[str, Any], context: ToolContext) -> Tool:
    return NamedTool("weather", settings, context)


def api_tools(settings: Mapping[str, Any], context: ToolContext) -> list[Tool]:
    return [NamedTool("get_forecast"), NamedTool("get_alerts")]


def not_tools(settings: Mapping[str, Any], context: ToolContext) -> Any:
    return {"weather": NamedTool("weather")}


def failing_tools(settings: Mapping[str, Any], context: ToolContext) -> Tool:
    raise KeyError("base_url")


NOT_CALLABLE = 42


def _entry_point(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{HERE}:{attribute}", group=ENTRY_POINT_GROUP)


def _registry(**factories: str) -> ToolRegistry:
    points = [_entry_point(name, attribute) for name, attribute in factories.items()]
    return ToolRegistry(ToolFactories(entry_points=points))


def test_factory_from_an_entry_point_makes_its_tool_with_the_settings() -> None:
    registry = _registry(weather="weather_tools")
    (tool,) = registry.load("weather", {"units": "metric"})
    assert registry.get("weather") is tool
    assert isinstance(tool, NamedTool) and tool.settings == {"units": "metric"}


def test_factory_receives_the_registry_context() -> None:
    context = ToolContext(egress=EgressPolicy(["127.0.0.1"]), limits=ToolCallLimits(timeout_s=5))
    points = [_entry_point("weather", "weather_tools")]
    registry = ToolRegistry(ToolFactories(entry_points=points), context)
    (tool,) = registry.load("weather")
    assert isinstance(tool, NamedTool) and tool.context is context


def test_factory_built_without_a_context_gets_the_restrictive_default() -> None:
    (tool,) = ToolFactories(entry_points=[_entry_point("weather", "weather_tools")]).build(
        "weather"
    )
    assert isinstance(tool, NamedTool) and tool.context is not None
    assert tool.context.limits == ToolCallLimits()
    assert not tool.context.secrets.allowed("HOME")


def test_factory_may_make_several_tools() -> None:
    registry = _registry(forecast_api="api_tools")
    registry.load("forecast_api")
    assert registry.names() == ["get_alerts", "get_forecast"]


def test_entry_points_are_listed_without_importing_them() -> None:
    factories = ToolFactories(
        entry_points=[EntryPoint("broken", "no_such_module_here:tools", ENTRY_POINT_GROUP)]
    )
    assert factories.names() == ["broken"]
    with pytest.raises(ConfigError, match=r"'broken'.*cannot be imported"):
        factories.get("broken")


def test_entry_point_that_is_not_callable_is_refused() -> None:
    with pytest.raises(ConfigError, match="is not callable"):
        _registry(bad="NOT_CALLABLE").load("bad")


def test_two_entry_points_claiming_one_name_are_refused() -> None:
    points = [_entry_point("weather", "weather_tools"), _entry_point("weather", "api_tools")]
    with pytest.raises(ConfigError, match="claimed by two entry points"):
        ToolFactories(entry_points=points).names()


def test_unknown_factory_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown tool factory 'wether'; known: weather") as info:
        _registry(weather="weather_tools").load("wether")
    assert info.value.details["known"] == ["weather"]


def test_factory_registered_in_code_is_used() -> None:
    registry = ToolRegistry(ToolFactories(entry_points=[]))
    registry.factories.register("weather", weather_tools)
    assert [tool.name for tool in registry.load("weather")] == ["weather"]


def test_factory_name_taken_by_an_entry_point_cannot_be_registered_again() -> None:
    factories = ToolFactories(entry_points=[_entry_point("weather", "weather_tools")])
    with pytest.raises(ConfigError, match="already registered"):
        factories.register("weather", api_tools)


def test_factory_returning_something_else_is_refused() -> None:
    with pytest.raises(ConfigError, match="returned dict, not a Tool or a list of Tools"):
        _registry(odd="not_tools").load("odd")


def test_factory_exception_becomes_a_config_error_naming_the_factory() -> None:
    with pytest.raises(ConfigError, match="tool factory 'failing' failed: KeyError: 'base_url'"):
        _registry(failing="failing_tools").load("failing")


def test_duplicate_tool_name_is_refused_naming_both_sources() -> None:
    registry = _registry(weather="weather_tools")
    registry.add(NamedTool("weather"))
    with pytest.raises(ConfigError, match=r"'weather' from factory 'weather' is taken.*from code"):
        registry.load("weather")


def test_factory_tools_are_added_all_or_none() -> None:
    registry = _registry(forecast_api="api_tools")
    registry.add(NamedTool("get_alerts"))
    with pytest.raises(ConfigError, match="'get_alerts'"):
        registry.load("forecast_api")
    assert registry.names() == ["get_alerts"]


def test_unknown_tool_lists_the_known_ones() -> None:
    registry = _registry(forecast_api="api_tools")
    registry.load("forecast_api")
    with pytest.raises(
        NotFoundError, match="unknown tool 'weather'; known tools: get_alerts, get_forecast"
    ):
        registry.get("weather")


def test_registry_says_whether_it_has_a_tool() -> None:
    registry = ToolRegistry(ToolFactories(entry_points=[]))
    registry.add(NamedTool("weather"))
    assert "weather" in registry and "get_alerts" not in registry


class ClosingTool(NamedTool):
    def __init__(self, name: str, closed: list[str], fail: bool = False) -> None:
        super().__init__(name)
        self.closed = closed
        self.fail = fail

    async def aclose(self) -> None:
        self.closed.append(self.name)
        if self.fail:
            raise RuntimeError("socket already gone")


def test_aclose_closes_every_tool_even_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []
    registry = ToolRegistry()
    registry.add(ClosingTool("first", closed, fail=True))
    registry.add(ClosingTool("second", closed))
    registry.add(NamedTool("plain"))  # the default aclose holds nothing
    asyncio.run(registry.aclose())
    assert closed == ["first", "second"]
    assert "closing tool 'first' failed" in caplog.text
