"""The MCP SDK's HTTP requests, sent through the egress policy.

The SDK's streamable HTTP transport takes an ``httpx2.AsyncClient``; the egress policy
builds ``httpx`` clients (``EgressPolicy.async_client``). ``egress_http_client`` gives the
SDK an ``httpx2`` client whose transport, ``EgressBridge``, hands every request to an
``httpx`` client of the policy and the answer back, streamed: so each request and each
redirect hop (the SDK follows them itself, within the server's origin) is checked, each
connection goes to a checked address, and each answer is capped at
``security.egress_max_response_mb``, exactly as for every other outbound request. A
refusal is raised as the policy's ``EgressDeniedError``; ``httpx`` failures become their
``httpx2`` twins, which the SDK handles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import httpx2

from smolit.security.egress import EgressPolicy

#: seconds a server may keep an event stream silent before it counts as lost
SSE_READ_TIMEOUT_S = 300.0

#: httpx failures and their httpx2 twins, the more specific first
_ERRORS: tuple[tuple[type[httpx.HTTPError], type[httpx2.RequestError]], ...] = (
    (httpx.ConnectTimeout, httpx2.ConnectTimeout),
    (httpx.ReadTimeout, httpx2.ReadTimeout),
    (httpx.WriteTimeout, httpx2.WriteTimeout),
    (httpx.PoolTimeout, httpx2.PoolTimeout),
    (httpx.TimeoutException, httpx2.TimeoutException),
    (httpx.ConnectError, httpx2.ConnectError),
    (httpx.ReadError, httpx2.ReadError),
    (httpx.WriteError, httpx2.WriteError),
    (httpx.CloseError, httpx2.CloseError),
    (httpx.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpx.LocalProtocolError, httpx2.LocalProtocolError),
    (httpx.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpx.DecodingError, httpx2.DecodingError),
)


def _twin(exc: httpx.HTTPError, request: httpx2.Request) -> httpx2.RequestError:
    for source, target in _ERRORS:
        if isinstance(exc, source):
            return target(str(exc), request=request)
    return httpx2.TransportError(f"{type(exc).__name__}: {exc}", request=request)


class _Body(httpx2.AsyncByteStream):
    """An ``httpx`` answer's raw body, as the ``httpx2`` answer's stream."""

    def __init__(self, response: httpx.Response, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _twin(exc, self._request) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class EgressBridge(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport that sends through an ``httpx`` client of the policy."""

    def __init__(self, egress: EgressPolicy, timeout_s: float) -> None:
        self._client = egress.async_client(timeout=timeout_s, follow_redirects=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        inner = httpx.Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=body,
            extensions={"timeout": request.extensions.get("timeout", {})},
        )
        try:
            response = await self._client.send(inner, stream=True)
        except httpx.HTTPError as exc:
            raise _twin(exc, request) from exc
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers.raw,
            stream=_Body(response, request),
            extensions={"http_version": response.http_version.encode("ascii")},
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def egress_http_client(
    egress: EgressPolicy, *, timeout_s: float, headers: Mapping[str, str]
) -> httpx2.AsyncClient:
    """An ``httpx2`` client for the SDK whose every request obeys ``egress``.

    ``timeout_s`` bounds connecting, sending and waiting for an answer; an event stream
    may stay silent for ``SSE_READ_TIMEOUT_S``. Proxy variables are ignored, as by the
    policy's own clients.
    """
    return httpx2.AsyncClient(
        transport=EgressBridge(egress, timeout_s),
        headers=dict(headers),
        timeout=httpx2.Timeout(timeout_s, read=max(timeout_s, SSE_READ_TIMEOUT_S)),
        follow_redirects=False,
        trust_env=False,
    )
