"""The running system shortlists tools with the neural tool selector on its real sentence
encoder: a request that fits a tool gets it first, one that fits none gets none."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smolit.config import Settings
from smolit.routing.tool_selection import ToolSelector
from smolit.system import AgentNN
from smolit.tools import ToolSpec
from smolit.tools.calculator import calculator_spec

WEATHER = ToolSpec(
    "get_weather_forecast",
    "Get the weather forecast (temperature, rain, wind) for a city on the coming days.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TRANSLATE = ToolSpec(
    "translate_text",
    "Translate a text from one language into another language.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)


def test_the_system_shortlists_tools_that_fit_and_abstains_otherwise(tmp_path: Path) -> None:
    settings = Settings()
    settings.home = tmp_path
    system = AgentNN(settings, environ={})
    system.prepare()
    selector = system.supervisor.tool_selector
    assert isinstance(selector, ToolSelector)
    tools = [calculator_spec(), WEATHER, TRANSLATE]

    def first(request: str) -> list[str]:
        return [spec.name for spec in asyncio.run(selector.shortlist(request, tools))][:1]

    assert first("Will it rain in Hamburg tomorrow?") == ["get_weather_forecast"]
    assert first("What is 1234 multiplied by 5678?") == ["calculator"]
    assert first("Recommend a good novel about sailing") == []
