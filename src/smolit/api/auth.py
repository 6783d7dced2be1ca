"""``Authentication``: a pure ASGI middleware that checks the bearer token from the
headers before anything reads the request body.

Every HTTP request except those to a public path (``PUBLIC_PATHS``, ``PUBLIC_PREFIXES``)
must carry ``Authorization: Bearer <token>``; without a valid one the answer is a 401 and
not one byte of the body is read, so a client with no token cannot make the server wait
for an upload or parse JSON. The principal found is put in the ASGI scope
(``PRINCIPAL_SCOPE_KEY``), where ``smolit.api.deps.current_principal`` takes it: a request
authenticates once. Tokens authenticated within ``security.token_cache_seconds`` are
answered from memory, without leaving the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from smolit.api.errors import error_for
from smolit.security.tokens import Principal, TokenService

#: paths anyone may call: liveness, the Prometheus scrape, the API documentation
PUBLIC_PATHS = frozenset(
    {"/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
#: path prefixes anyone may call (static assets of a web console add theirs here)
PUBLIC_PREFIXES: tuple[str, ...] = ()
PRINCIPAL_SCOPE_KEY = "smolit.principal"


def is_public(path: str, prefixes: Iterable[str] = PUBLIC_PREFIXES) -> bool:
    return path in PUBLIC_PATHS or any(path.startswith(prefix) for prefix in prefixes)


def bearer_secret(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, secret = header.strip().partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return secret.strip()
            return None
    return None


def scope_principal(scope: Scope) -> Principal | None:
    """The principal ``Authentication`` found for this request, if it ran."""
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None


class Authentication:
    def __init__(
        self, app: ASGIApp, tokens: TokenService, public_prefixes: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.public_prefixes = (*PUBLIC_PREFIXES, *public_prefixes)

    async def _principal(self, secret: str | None) -> Principal:
        cached = self.tokens.cached(secret)
        if cached is not None:
            return cached
        if not secret:  # refused without a thread or the database
            return self.tokens.authenticate(secret)
        return await asyncio.to_thread(self.tokens.authenticate, secret)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope.get("path", ""), self.public_prefixes):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._principal(bearer_secret(scope))
        except Exception as exc:  # AuthError: 401; the database gone: 503
            response = await error_for(Request(scope), exc)
            await response(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
