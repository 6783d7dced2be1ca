"""A pure ASGI middleware that refuses request bodies over a size limit with 413.

One limit applies to every request, except those matching a ``LargerLimit`` (document
uploads), which have their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class LargerLimit:
    """Requests with ``method`` to a path that ``path`` matches in full may send
    ``max_bytes``; ``setting`` names where the limit comes from, for the message."""

    method: str
    path: re.Pattern[str]
    max_bytes: int
    setting: str


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, larger: Sequence[LargerLimit] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    def _limit(self, scope: Scope) -> tuple[int, str]:
        for rule in self.larger:
            if scope.get("method") == rule.method and rule.path.fullmatch(scope.get("path", "")):
                return rule.max_bytes, rule.setting
        return self.max_bytes, "server.max_request_bytes"

    async def _refuse(self, send: Send, limit: int, setting: str) -> None:
        body = json.dumps(
            {
                "error": {
                    "type": "payload_too_large",
                    "message": f"request body is larger than {limit} bytes ({setting})",
                    "details": {"limit": limit, "setting": setting},
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(send, limit, setting)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit, setting)
