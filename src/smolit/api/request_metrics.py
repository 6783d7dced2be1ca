"""``RequestMetrics``: a pure ASGI middleware that times every HTTP request and records it
in ``RequestStats`` by route template, method and status."""

from __future__ import annotations

import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smolit.metrics.http import UNMATCHED, RequestStats


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/tasks/{task_id}``); the router sets
    ``scope["route"]`` when a route matches."""
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    def __init__(self, app: ASGIApp, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.stats.record(
                route_template(scope),
                str(scope.get("method", "GET")),
                status,
                time.perf_counter() - started,
            )
