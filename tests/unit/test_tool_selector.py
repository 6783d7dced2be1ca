"""The tool selector: shortlists tools that fit a request, abstains when none does."""

from __future__ import annotations

import asyncio

import pytest
import torch

from smolit.agents.tool_selection import offer
from smolit.errors import RoutingError, ValidationError
from smolit.routing.tool_selection import ToolSelector, name_words, prototype_texts
from smolit.testing import LookupEncoder
from smolit.tools.base import ToolSpec

WEATHER = ToolSpec(
    "get_weather",
    "Current weather forecast temperature rain wind for a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "Name of the city"}},
        "required": ["city"],
    },
)
CURRENCY = ToolSpec("convert_currency", "Convert money between currencies dollars euros yen.")
EMAIL = ToolSpec("send_email", "Send an email message to a recipient inbox.")
TIMER = ToolSpec(
    "start_timer", "Start a countdown.", examples=("ring the kitchen alarm after the pasta boils",)
)
TOOLS = [WEATHER, CURRENCY, EMAIL, TIMER]


class CountingEncoder(LookupEncoder):
    """A lookup encoder that counts the texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__(dimension=256)
        self.encoded = 0

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.encoded += len(texts)
        return super().encode(texts)


def selector(k: int = 3) -> ToolSelector:
    chooser = ToolSelector(LookupEncoder(dimension=256), k=k)
    chooser.set_tools(TOOLS)
    return chooser


def test_the_tool_that_fits_comes_first() -> None:
    selection = selector().select_sync("weather forecast rain wind in the city of Paris")
    assert not selection.abstained
    assert selection.tools[0] == "get_weather"


def test_the_shortlist_holds_the_k_best_tools() -> None:
    selection = selector(k=2).select_sync("convert dollars to euros and yen money")
    assert selection.tools[0] == "convert_currency"
    assert len(selection.shortlist) == 2
    assert selection.shortlist[0].score >= selection.shortlist[1].score


def test_a_request_no_tool_fits_is_abstained_on() -> None:
    selection = selector().select_sync("zebra xylophone quokka")
    assert selection.abstained
    assert selection.shortlist == ()
    assert selection.best is not None
    assert "below the threshold" in selection.reason


def test_examples_are_prototypes_too() -> None:
    selection = selector().select_sync("ring the kitchen alarm after the pasta boils")
    assert selection.tools[0] == "start_timer"


def test_only_available_tools_are_chosen() -> None:
    selection = selector().select_sync(
        "weather forecast rain wind in the city", available=["send_email", "start_timer"]
    )
    assert "get_weather" not in [c.tool for c in selection.shortlist]
    assert selection.best is not None and selection.best.tool != "get_weather"


def test_an_unknown_available_tool_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unknown tools: nope"):
        selector().select_sync("weather", available=["nope"])


def test_an_empty_request_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="empty"):
        selector().select_sync("  ")


def test_selecting_without_tools_is_a_routing_error() -> None:
    with pytest.raises(RoutingError, match="no tools"):
        ToolSelector(LookupEncoder()).select_sync("weather")


def test_duplicate_tool_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="unique"):
        ToolSelector(LookupEncoder()).set_tools([WEATHER, WEATHER])


def test_a_shortlist_of_zero_is_refused() -> None:
    with pytest.raises(ValidationError, match="k >= 1"):
        ToolSelector(LookupEncoder(), k=0)


def test_a_changed_description_changes_the_choice() -> None:
    chooser = selector()
    request = "translate this sentence into german language"
    assert chooser.select_sync(request).abstained
    renamed = ToolSpec("send_email", "Translate a sentence into another language german french.")
    chooser.set_tools([WEATHER, CURRENCY, renamed, TIMER])
    assert chooser.select_sync(request).tools[0] == "send_email"


def test_unchanged_tools_are_not_encoded_again() -> None:
    encoder = CountingEncoder()
    chooser = ToolSelector(encoder)
    chooser.set_tools(TOOLS)
    after_first = encoder.encoded
    chooser.set_tools(TOOLS)
    assert encoder.encoded == after_first
    chooser.set_tools([*TOOLS[:3], ToolSpec("start_timer", "Start a stopwatch.")])
    assert encoder.encoded == after_first + 1


def test_select_runs_the_blocking_selection_in_a_thread() -> None:
    chooser = selector()
    request = "weather forecast rain wind in the city"
    assert asyncio.run(chooser.select(request)).tools == chooser.select_sync(request).tools


def test_tool_names_become_words() -> None:
    assert name_words("math.factorial") == "math factorial"
    assert name_words("getCurrentWeather") == "get current weather"
    assert name_words("send_email-v2") == "send email v2"


def test_prototypes_hold_the_description_parameters_and_examples() -> None:
    spec = ToolSpec("get_weather", "Weather.", WEATHER.parameters, ("rain?",))
    assert prototype_texts(spec) == ["get weather: Weather.", "rain?"]
    assert prototype_texts(spec, with_parameters=True) == [
        "get weather: Weather. Parameters: city: Name of the city.",
        "rain?",
    ]


def test_shortlist_serves_the_agents_selector_interface() -> None:
    chooser = ToolSelector(LookupEncoder(dimension=256), k=2)
    chosen = asyncio.run(chooser.shortlist("convert dollars to euros and yen money", TOOLS))
    assert chosen[0].name == "convert_currency"
    assert len(chosen) == 2 and all(isinstance(spec, ToolSpec) for spec in chosen)


def test_shortlist_is_empty_when_no_tool_fits_or_none_is_given() -> None:
    chooser = ToolSelector(LookupEncoder(dimension=256))
    assert asyncio.run(chooser.shortlist("zebra xylophone quokka", TOOLS)) == []
    assert asyncio.run(chooser.shortlist("weather", [])) == []


def test_shortlist_chooses_among_its_own_tools_only() -> None:
    chooser = selector()
    chosen = asyncio.run(
        chooser.shortlist("weather forecast rain wind in the city", [EMAIL, TIMER])
    )
    assert "get_weather" not in [spec.name for spec in chosen]
    assert chooser.tool_names == ["get_weather", "convert_currency", "send_email", "start_timer"]


def test_an_agent_with_tool_choice_auto_is_offered_the_shortlist() -> None:
    chooser = ToolSelector(LookupEncoder(dimension=256), k=1)
    offered = asyncio.run(offer("auto", "convert dollars to euros and yen money", TOOLS, chooser))
    assert [tool.name for tool in offered.tools] == ["convert_currency"]
