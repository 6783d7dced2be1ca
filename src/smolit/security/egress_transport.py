"""httpx transports that enforce the egress policy on every hop and every connection.

The transport checks each request's scheme and host (so every redirect hop is checked) and
caps each answer's body at ``security.egress_max_response_mb``;
its connection pool's network backend resolves the host, checks every address and then
connects to the checked address itself. httpcore starts TLS on that socket with the
request's host name (SNI and certificate checks are unchanged), and no second lookup
happens between the check and the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Protocol

import anyio.to_thread
import httpcore
import httpx

from smolit.errors import EgressDeniedError


def _pool_options() -> dict[str, Any]:
    """The connection pool settings of a default ``httpx.HTTPTransport``."""
    return {
        "ssl_context": httpx.create_ssl_context(),
        "max_connections": 100,
        "max_keepalive_connections": 20,
        "keepalive_expiry": 5.0,
    }


class Policy(Protocol):
    """What the transports need of ``EgressPolicy``."""

    def target(self, url: str | httpx.URL) -> tuple[str, int]: ...

    def addresses(self, host: str, port: int) -> list[str]: ...

    @property
    def max_response_bytes(self) -> int: ...


def _unix_socket_refused() -> EgressDeniedError:
    return EgressDeniedError(
        "outbound requests over a Unix socket are not allowed", details={"rule": "scheme"}
    )


def _addresses(policy: Policy, host: str, port: int) -> list[str]:
    """Checked addresses of ``host``; a failed lookup is a connection error (not a refusal)."""
    try:
        return policy.addresses(host, port)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        options = list(socket_options or ())
        for address in _addresses(self._policy, host, port):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next address, as socket.create_connection does
        assert failure is not None  # _addresses never returns an empty list
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise _unix_socket_refused()

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        options = list(socket_options or ())
        addresses = await anyio.to_thread.run_sync(_addresses, self._policy, host, port)
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _unix_socket_refused()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _too_large(url: httpx.URL, limit: int) -> EgressDeniedError:
    return EgressDeniedError(
        f"the answer from {url.host} is larger than {limit / 1e6:g} MB; raise "
        "security.egress_max_response_mb to allow it",
        details={"rule": "security.egress_max_response_mb", "limit": limit, "host": url.host},
    )


class _CappedStream(httpx.SyncByteStream):
    """A response body that stops with a refusal once it passes ``limit`` bytes."""

    def __init__(self, inner: httpx.SyncByteStream, url: httpx.URL, limit: int) -> None:
        self._inner, self._url, self._limit = inner, url, limit

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise _too_large(self._url, self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _AsyncCappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, url: httpx.URL, limit: int) -> None:
        self._inner, self._url, self._limit = inner, url, limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise _too_large(self._url, self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _declared_too_large(response: httpx.Response, url: httpx.URL, limit: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


class EgressTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go only where ``policy`` allows."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(trust_env=False)
        self._policy = policy
        # httpx.HTTPTransport takes no network backend: its pool is rebuilt with the guard
        self._pool = httpcore.ConnectionPool(
            network_backend=_GuardedBackend(policy), **_pool_options()
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.target(request.url)
        response = super().handle_request(request)
        limit = self._policy.max_response_bytes
        if _declared_too_large(response, request.url, limit):
            response.close()
            raise _too_large(request.url, limit)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _CappedStream(response.stream, request.url, limit)
        return response


class EgressAsyncTransport(httpx.AsyncHTTPTransport):
    """The asynchronous twin of ``EgressTransport``."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(trust_env=False)
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=_AsyncGuardedBackend(policy), **_pool_options()
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.target(request.url)
        response = await super().handle_async_request(request)
        limit = self._policy.max_response_bytes
        if _declared_too_large(response, request.url, limit):
            await response.aclose()
            raise _too_large(request.url, limit)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _AsyncCappedStream(response.stream, request.url, limit)
        return response
