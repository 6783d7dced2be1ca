"""What a model is offered by an agent's tool_choice and the tool selector."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from smolit.agents.tool_selection import ToolOffer, ToolSelector, offer
from smolit.config import ToolChoiceSetting
from smolit.models.tool_calling import ToolChoice
from smolit.tools import ToolSpec

SPECS = [ToolSpec(name, f"the {name} tool") for name in ("alpha", "beta", "gamma")]


class Picks:
    """Shortlists the tools named, in that order (and one the agent does not list)."""

    def __init__(self, *names: str) -> None:
        self.names = names

    async def shortlist(self, request: str, tools: Sequence[ToolSpec]) -> Sequence[ToolSpec]:
        return [ToolSpec(name, "x") for name in self.names]


def offered(mode: ToolChoiceSetting, selector: ToolSelector | None) -> ToolOffer:
    return asyncio.run(offer(mode, "request", SPECS, selector))


def test_model_mode_offers_every_tool_whatever_the_selector_says() -> None:
    result = offered("model", Picks("beta"))
    assert [tool.name for tool in result.tools] == ["alpha", "beta", "gamma"]
    assert result.first == ToolChoice("auto")


def test_auto_offers_the_shortlist_without_tools_the_agent_does_not_list() -> None:
    result = offered("auto", Picks("gamma", "delta", "alpha"))
    assert [tool.name for tool in result.tools] == ["gamma", "alpha"]
    assert (result.first, result.later) == (ToolChoice("auto"), ToolChoice("auto"))


def test_router_forces_the_top_tool_on_the_first_step_only() -> None:
    result = offered("router", Picks("beta", "alpha"))
    assert result.first == ToolChoice.named("beta")
    assert result.later == ToolChoice("auto")


def test_an_abstaining_selector_offers_nothing() -> None:
    for mode in ("auto", "router"):
        result = offered(mode, Picks())
        assert (result.tools, result.first) == ((), ToolChoice("none"))


def test_without_a_selector_every_tool_is_offered() -> None:
    result = offered("router", None)
    assert len(result.tools) == 3 and result.first == ToolChoice("auto")
