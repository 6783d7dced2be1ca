"""``RequestIdMiddleware``: every request gets a request id (its ``X-Request-ID`` header
when usable, else a new one), held in ``smolit.logs.request_id_var`` while it is handled
and sent back as ``X-Request-ID``. A submitted task stores it, so the worker that runs the
task logs under the same id."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smolit.logs import accept_request_id, request_id_var

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
        request_id = accept_request_id(offered)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, tagged_send)
        finally:
            request_id_var.reset(token)
