"""The router interface: one required method, ``route_sync``; callers await ``route``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from smolit.routing.decision import RouteDecision
from smolit.routing.profile import AgentProfile


class Router(ABC):
    """Decides which agent should take a task.

    ``set_agents`` tells the router which agents exist (called whenever they change);
    ``route_sync`` then scores them for one task (CPU-bound, blocking), and ``route`` runs it
    in a worker thread for the event loop. Agents not in ``available`` are scored but never
    chosen.
    """

    name: str = "router"

    @abstractmethod
    def set_agents(self, agents: Sequence[AgentProfile]) -> None:
        """Replace the set of routable agents."""

    @abstractmethod
    def route_sync(self, text: str, available: set[str] | None = None) -> RouteDecision:
        """Score every agent for ``text`` and pick one, or declare it out of scope."""

    @abstractmethod
    def learn(self, agent: str, context: str | None, value: float, user: str | None = None) -> None:
        """Hear how a task routed to ``agent`` turned out (``value`` in [0, 1]), from
        ``user`` (whose influence the router may bound; None: not from an account)."""

    async def route(self, text: str, available: set[str] | None = None) -> RouteDecision:
        """``route_sync`` in a worker thread, so the event loop never waits on the encoder."""
        return await asyncio.to_thread(self.route_sync, text, available)
