"""``McpServer``: one MCP server for the life of the process, shared by its tools.

The server's connection lives in an event loop of its own, run by a daemon thread that
the server starts (again after a ``fork``: a child process starts its own server), so
tools can be made by a synchronous factory and called from any event loop, and one
caller's loop closing does not take the connection with it. In that loop:

- ``start_sync`` connects (spawns the process, or opens the HTTP session) and lists the
  tools, blocking up to ``connect_timeout_s``; it is what the factory calls;
- a call (from the caller's loop, handed over with ``run_coroutine_threadsafe``;
  cancelling the caller cancels it) uses the live connection; when the connection has
  ended (the process exited, the HTTP session broke), it starts a new one first. A call in
  flight when the connection ends fails as a result that says so; a call runs at most
  ``timeout_s`` (the runner's own timeout bounds it too);
- each listing (at every connection, and when the server says its tool list changed)
  updates the tools: a known tool gets its new spec, a new tool its ``McpTool``, a tool
  no longer listed fails when called; ``on_tools_changed`` callbacks then get the tools
  offered now;
- ``close_sync`` / ``aclose`` stop the connection (and the process) and the thread.
  Servers still open when the interpreter exits are closed then.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError as PydanticValidationError

from smolit.errors import ConfigError
from smolit.redact import redact_text
from smolit.tools.base import ToolResult
from smolit.tools.mcp.catalog import ToolCatalog, ToolsChanged
from smolit.tools.mcp.connection import Connection, TransportFactory, describe
from smolit.tools.mcp.naming import ToolNames
from smolit.tools.mcp.results import tool_result
from smolit.tools.mcp.tool import McpTool

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: lines of the server's error output a message shows
_STDERR_SHOWN = 3
#: seconds a call that saw the connection close waits to learn why
_WHY_WAIT_S = 2.0
#: seconds closing may take: the connection (a stdio server gets 2 s to exit, then is
#: killed), then the thread
_CLOSE_TIMEOUT_S = 10.0

_open_servers: weakref.WeakSet[McpServer] = weakref.WeakSet()


@atexit.register
def _close_open_servers() -> None:
    for server in list(_open_servers):
        server.close_sync()


@dataclass(frozen=True)
class ServerOptions:
    """How one server is reached and what its tools look like."""

    name: str
    make_transport: TransportFactory
    stdio: bool
    prefix: str
    call_timeout_s: float
    connect_timeout_s: float
    #: the MCP tools to offer, by name; None: all
    select: frozenset[str] | None = None
    #: every call safe to repeat (True), none (False), or from the annotations (None)
    idempotent: bool | None = None
    #: secret values masked in results, messages and logs
    known_secrets: tuple[str, ...] = ()


class McpUnavailableError(Exception):
    """The server could not be started or reached (the message says why)."""


class McpServer:
    """One MCP server's connection and tools."""

    def __init__(self, options: ServerOptions, names: ToolNames) -> None:
        self.options = options
        self.name = options.name
        self._catalog = ToolCatalog(
            options.name,
            prefix=options.prefix,
            names=names,
            make_tool=lambda spec, mcp_name: McpTool(spec, self, mcp_name),
            select=options.select,
            idempotent=options.idempotent,
        )
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        # used in the server's loop only
        self._connection: Connection | None = None
        self._owner: asyncio.Task[None] | None = None
        self._connect_lock: asyncio.Lock | None = None

    # --- tools -----------------------------------------------------------------------------

    def tools(self) -> list[McpTool]:
        """The tools the server offers now."""
        return self._catalog.offered()

    def on_tools_changed(self, callback: ToolsChanged) -> None:
        """Call ``callback`` with the tools offered after each listing that changed them
        (in the server's thread: keep it short, and thread-safe)."""
        self._catalog.on_change(callback)

    # --- the server's loop -----------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpUnavailableError("it is closed")
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"smolit-mcp-{self.name}", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._connection, self._owner, self._connect_lock = None, None, None
                _open_servers.add(self)
            return self._loop

    def _submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        try:
            loop = self._running_loop()
        except BaseException:
            work.close()
            raise
        return asyncio.run_coroutine_threadsafe(work, loop)

    async def _client(self, timeout_s: float) -> Client:
        """The live connection's client; a new connection when there is none."""
        connection = self._connection
        if connection is not None and connection.alive and connection.client is not None:
            return connection.client
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            connection = self._connection
            if connection is None or not connection.alive:
                connection = await self._connect(timeout_s)
            assert connection.client is not None
            return connection.client

    async def _connect(self, timeout_s: float) -> Connection:
        if self._connection is not None:
            logger.info("MCP server %r: connecting again", self.name)
        connection = Connection(
            self.name,
            self.options.make_transport,
            stdio=self.options.stdio,
            on_tools=self._catalog.update,
            known_secrets=self.options.known_secrets,
        )
        owner = asyncio.create_task(connection.run(), name=f"mcp-{self.name}")
        self._connection, self._owner = connection, owner
        try:
            await asyncio.wait_for(connection.ready.wait(), timeout_s)
        except TimeoutError:
            owner.cancel()
            raise McpUnavailableError(
                f"it did not start within {timeout_s:g} s (connect_timeout_s)"
                f"{self._stderr(connection)}"
            ) from None
        if not connection.alive:
            reason = describe(connection.error) if connection.error else "it closed at once"
            raise McpUnavailableError(f"{reason}{self._stderr(connection)}")
        return connection

    def _stderr(self, connection: Connection) -> str:
        lines = list(connection.stderr)[-_STDERR_SHOWN:]
        return f"; its last error output: {' | '.join(lines)}" if lines else ""

    # --- starting and calling --------------------------------------------------------------

    def start_sync(self) -> None:
        """Connect and list the tools; a ``ConfigError`` saying why the server cannot."""
        timeout_s = self.options.connect_timeout_s
        try:
            self._submit(self._client(timeout_s)).result(timeout=timeout_s + _CLOSE_TIMEOUT_S)
        except (McpUnavailableError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {timeout_s:g} s (connect_timeout_s)"
            raise ConfigError(
                redact_text(f"MCP server {self.name!r} {self._cannot()}: {why}", self._known()),
                details={"server": self.name},
            ) from None

    def _cannot(self) -> str:
        return "cannot start" if self.options.stdio else "cannot be reached"

    def _known(self) -> Sequence[str]:
        return self.options.known_secrets

    async def call(self, mcp_name: str, arguments: dict[str, Any]) -> ToolResult:
        """Call the tool ``mcp_name``; every failure is a result that says what happened."""
        try:
            future = self._submit(self._call(mcp_name, arguments))
        except McpUnavailableError as exc:
            return self._failure(f"MCP server {self.name!r} cannot be called: {exc}")
        return await asyncio.wrap_future(future)

    def _failure(self, message: str) -> ToolResult:
        return ToolResult.failure(redact_text(message, self._known()))

    async def _call(self, mcp_name: str, arguments: dict[str, Any]) -> ToolResult:
        if not self._catalog.offers(mcp_name):
            return self._failure(f"the MCP server {self.name!r} no longer offers {mcp_name!r}")
        timeout_s = self.options.call_timeout_s
        try:
            client = await self._client(min(timeout_s, self.options.connect_timeout_s))
        except McpUnavailableError as exc:
            return self._failure(f"MCP server {self.name!r} {self._cannot()}: {exc}")
        connection = self._connection
        try:
            result = await client.call_tool(mcp_name, arguments, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED and connection is not None:
                return await self._closed_during_call(connection)
            if exc.code == types.REQUEST_TIMEOUT:
                return self._failure(
                    f"MCP server {self.name!r} did not answer within {timeout_s:g} s"
                )
            return self._failure(f"MCP server {self.name!r} refused the call: {exc.message}")
        except PydanticValidationError as exc:
            return self._failure(
                f"MCP server {self.name!r} answered with an invalid result: "
                f"{exc.error_count()} problems, the first: {exc.errors()[0]['msg']}"
            )
        return tool_result(result, self._known())

    async def _closed_during_call(self, connection: Connection) -> ToolResult:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.ended.wait(), _WHY_WAIT_S)
        why = f" ({describe(connection.error)})" if connection.error else ""
        again = (
            "the server is started again on the next call"
            if self.options.stdio
            else "the next call connects again"
        )
        return self._failure(
            f"the connection to MCP server {self.name!r} closed during the call{why}"
            f"{self._stderr(connection)}; {again}"
        )

    # --- closing ---------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._connection is not None:
            self._connection.stop()
        if self._owner is not None:
            _, late = await asyncio.wait({self._owner}, timeout=_CLOSE_TIMEOUT_S)
            if late:
                logger.warning("MCP server %r: the connection did not close in time", self.name)
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()

    def close_sync(self) -> None:
        """Stop the connection (and the server's process) and the thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
            own = self._pid == os.getpid()
        _open_servers.discard(self)
        if loop is None or thread is None or not own:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(
                timeout=_CLOSE_TIMEOUT_S + 2
            )
        except (concurrent.futures.TimeoutError, RuntimeError):
            logger.warning("MCP server %r did not close in time", self.name)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_CLOSE_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()

    async def aclose(self) -> None:
        """``close_sync`` without blocking the caller's loop."""
        await asyncio.to_thread(self.close_sync)
