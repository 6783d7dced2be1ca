"""One live connection to an MCP server, owned by one task.

The MCP SDK's client and its transports are anyio context managers with task groups:
they must be entered and left by the same task. ``Connection.run`` is that task: it
starts the transport (spawns the process, or opens the HTTP session), negotiates, lists
the tools, says it is ready, and then holds the connection until ``stop`` is called or
the connection ends on its own (the process exited, the server closed the stream). Calls
use ``client`` from other tasks of the same event loop: a request in flight when the
connection ends fails with the SDK's ``CONNECTION_CLOSED`` error, never hangs.

While it is up, the connection refreshes the tool list when the server says it changed:
``notifications/tools/list_changed`` reaches the message handler on every protocol
version; on a 2026-07-28 connection the server sends it only to a ``subscriptions/listen``
stream, which the connection keeps open.

A stdio server's standard error goes to a pipe read here: each line is logged at DEBUG
(secrets masked) and the last lines are kept for messages (a server that cannot start
usually says why there).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from types import TracebackType
from typing import Any, Self, TextIO

import anyio
import mcp_types as types
from mcp import Client
from mcp.client import Transport
from mcp.client.subscriptions import ListenNotSupportedError, SubscriptionLost
from mcp.shared._stream_protocols import ReadStream
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from smolit.errors import SmolitError
from smolit.redact import mask_secrets

logger = logging.getLogger(__name__)

#: lines of a server's standard error kept for messages, and characters of each
STDERR_LINES = 8
STDERR_LINE_CHARS = 300
#: pages of tools/list read at most (a server whose pages never end cannot hang a refresh)
MAX_PAGES = 100

#: makes the transport; takes where a stdio server's standard error goes (None: HTTP)
TransportFactory = Callable[[TextIO | None], AbstractAsyncContextManager[Any]]
ToolsListed = Callable[[list[types.Tool]], None]


class _WatchedStream:
    """The transport's read stream, which says when it ends (the connection is gone)."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], ended: asyncio.Event):
        self._inner = inner
        self._ended = ended

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._ended.set()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, anyio.ClosedResourceError):
            self._ended.set()
            raise

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


@asynccontextmanager
async def _watched(transport: AbstractAsyncContextManager[Any], ended: asyncio.Event) -> Any:
    try:
        async with transport as (read_stream, write_stream):
            yield _WatchedStream(read_stream, ended), write_stream
    finally:
        ended.set()


class Connection:
    """One connection's life: ``run`` it as a task, wait for ``ready``, ``stop`` it."""

    def __init__(
        self,
        server: str,
        make_transport: TransportFactory,
        *,
        stdio: bool,
        on_tools: ToolsListed,
        known_secrets: Sequence[str] = (),
    ) -> None:
        self.server = server
        self._make_transport = make_transport
        self._stdio = stdio
        self._on_tools = on_tools
        self._known = known_secrets
        self.client: Client | None = None
        #: why the connection failed or ended, when it did not end by ``stop``
        self.error: BaseException | None = None
        self.ready = asyncio.Event()
        self.ended = asyncio.Event()
        self._stop = asyncio.Event()
        self._tools_changed = asyncio.Event()
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)

    @property
    def alive(self) -> bool:
        return self.ready.is_set() and self.client is not None and not self.ended.is_set()

    def stop(self) -> None:
        self._stop.set()

    # --- the owner task -------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with self._stderr_pipe() as errlog:
                transport: Transport = _watched(self._make_transport(errlog), self.ended)
                async with Client(
                    transport, cache=None, message_handler=self._on_message
                ) as client:
                    self._on_tools(await list_tools(client))
                    self.client = client
                    self.ready.set()
                    await self._hold(client)
        except Exception as exc:  # any failure ends this connection; the next call starts one
            self.error = exc
            why = mask_secrets(describe(exc), self._known)
            logger.info("MCP server %r: connection ended: %s", self.server, why)
        finally:
            self.client = None
            self.ended.set()
            self.ready.set()

    async def _hold(self, client: Client) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._refresh_on_change, client)
            if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                group.start_soon(self._listen, client)
            await _first(self._stop.wait(), self.ended.wait())
            group.cancel_scope.cancel()

    async def _on_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._tools_changed.set()

    async def _refresh_on_change(self, client: Client) -> None:
        while True:
            await self._tools_changed.wait()
            self._tools_changed.clear()
            try:
                self._on_tools(await list_tools(client))
            except Exception as exc:  # a failed listing leaves the tools as they were
                why = mask_secrets(describe(exc), self._known)
                logger.warning("MCP server %r: listing tools failed: %s", self.server, why)

    async def _listen(self, client: Client) -> None:
        """Keep a ``subscriptions/listen`` stream open for tool list changes."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._tools_changed.set()
        except (ListenNotSupportedError, SubscriptionLost, MCPError, TimeoutError) as exc:
            logger.info("MCP server %r: no tool list notifications: %s", self.server, exc)

    # --- standard error --------------------------------------------------------------------

    @asynccontextmanager
    async def _stderr_pipe(self) -> AsyncIterator[TextIO | None]:
        if not self._stdio:
            yield None
            return
        read_fd, write_fd = os.pipe()
        reader = asyncio.create_task(self._read_stderr(read_fd))
        errlog = os.fdopen(write_fd, "w", encoding="utf-8", errors="replace")
        try:
            yield errlog
        finally:
            errlog.close()
            with suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(reader, timeout=1.0)

    async def _read_stderr(self, read_fd: int) -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader()
        pipe = os.fdopen(read_fd, "rb")
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), pipe
        )
        try:
            while line := await stream.readline():
                text = mask_secrets(line.decode("utf-8", errors="replace").rstrip(), self._known)
                if text:
                    self.stderr.append(text[:STDERR_LINE_CHARS])
                    logger.debug("MCP server %r: %s", self.server, text)
        finally:
            transport.close()


async def _first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def list_tools(client: Client) -> list[types.Tool]:
    """Every tool the server lists, page after page."""
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def describe(exc: BaseException) -> str:
    """What ended a connection, in one line: of an exception group, its first failure
    that Agent-NN raised on purpose (a refusal of the egress policy), else its first
    failure; an ``MCPError``'s or a ``SmolitError``'s message, else the type and message."""
    leaves = [leaf for leaf in _leaves(exc) if not isinstance(leaf, asyncio.CancelledError)]
    ours = [leaf for leaf in leaves if isinstance(leaf, SmolitError)]
    first = (ours or leaves or [exc])[0]
    message = getattr(first, "message", None)
    if isinstance(message, str) and message:
        return message
    text = str(first)
    return f"{type(first).__name__}: {text}" if text else type(first).__name__
