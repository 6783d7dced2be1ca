"""The router interface: one required method, ``route``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from smolit.routing.decision import RouteDecision
from smolit.routing.profile import AgentProfile


class Router(ABC):
    """Decides which agent should take a task.

    ``set_agents`` tells the router which agents exist (called whenever they change);
    ``route`` then scores them for one task. Agents not in ``available`` are scored but
    never chosen.
    """

    name: str = "router"

    @abstractmethod
    def set_agents(self, agents: Sequence[AgentProfile]) -> None:
        """Replace the set of routable agents."""

    @abstractmethod
    def route(self, text: str, available: set[str] | None = None) -> RouteDecision:
        """Score every agent for ``text`` and pick one, or declare it out of scope."""

    @abstractmethod
    def learn(self, agent: str, context: str | None, value: float, user: str | None = None) -> None:
        """Hear how a task routed to ``agent`` turned out (``value`` in [0, 1]), from
        ``user`` (whose influence the router may bound; None: not from an account)."""

    async def aroute(self, text: str, available: set[str] | None = None) -> RouteDecision:
        return await asyncio.to_thread(self.route, text, available)
