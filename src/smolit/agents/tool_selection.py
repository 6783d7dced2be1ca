"""Which of an agent's tools a model is offered for a request, by its ``tool_choice``.

- ``model``: every tool of the agent; the model decides.
- ``auto``: the ``ToolSelector``'s shortlist; the model decides among them. The selector
  abstaining (an empty shortlist) offers none.
- ``router``: the selector's top tool is called (``ToolChoice.named``) on the first step;
  when it abstains no tool is offered and the model answers in text.

Without a selector, ``auto`` and ``router`` offer every tool of the agent as ``model`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from smolit.config import ToolChoiceSetting
from smolit.models.tool_calling import FunctionTool, ToolChoice
from smolit.tools.base import ToolSpec


class ToolSelector(Protocol):
    """Shortlists the tools that fit a request, best first; empty means none fits."""

    async def shortlist(self, request: str, tools: Sequence[ToolSpec]) -> Sequence[ToolSpec]: ...


@dataclass(frozen=True)
class ToolOffer:
    """The tools a model is shown, and its choice on the first step and after it."""

    tools: tuple[FunctionTool, ...]
    first: ToolChoice
    later: ToolChoice

    @classmethod
    def nothing(cls) -> ToolOffer:
        return cls((), ToolChoice("none"), ToolChoice("none"))


async def offer(
    mode: ToolChoiceSetting,
    request: str,
    specs: Sequence[ToolSpec],
    selector: ToolSelector | None,
) -> ToolOffer:
    """What to offer for ``request`` out of the agent's ``specs``."""
    if not specs:
        return ToolOffer.nothing()
    if mode == "model" or selector is None:
        every = tuple(FunctionTool.from_spec(spec) for spec in specs)
        return ToolOffer(every, ToolChoice("auto"), ToolChoice("auto"))
    known = {spec.name: spec for spec in specs}
    chosen = await selector.shortlist(request, specs)
    # a selector offers nothing the agent does not list, and each tool once
    shortlist = list(
        {spec.name: known[spec.name] for spec in chosen if spec.name in known}.values()
    )
    if not shortlist:
        return ToolOffer.nothing()
    tools = tuple(FunctionTool.from_spec(spec) for spec in shortlist)
    if mode == "router":
        return ToolOffer(tools, ToolChoice.named(shortlist[0].name), ToolChoice("auto"))
    return ToolOffer(tools, ToolChoice("auto"), ToolChoice("auto"))
