"""A small MCP server for the ``mcp`` tool's tests, written with the SDK's ``MCPServer``.

Run it as ``python mcp_calc_server.py`` (stdio) or ``python mcp_calc_server.py --http``
(streamable HTTP at ``/mcp`` on a free loopback port, which it prints first, once it
listens). Its tools answer in each way the tool source must
handle: structured and text results, an error result, an image, the process exiting in
the middle of a call, and a tool list that changes.
"""

from __future__ import annotations

import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("calc", log_level="WARNING")


class Sum(BaseModel):
    total: int


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> Sum:
    """Add two integers."""
    return Sum(total=a + b)


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def fail(message: str) -> str:
    """Fail with the message."""
    raise ToolError(message)


@server.tool()
def picture() -> Image:
    """A small PNG image."""
    return Image(data=b"\x89PNG\r\n\x1a\n" + bytes(40), format="png")


@server.tool(structured_output=False)
def token() -> str:
    """The CALC_TOKEN of the server's environment."""
    return f"token is {os.environ.get('CALC_TOKEN', '(unset)')}"


@server.tool(structured_output=False)
def authorization(ctx: Context) -> str:
    """The Authorization header of the HTTP request (streamable HTTP only)."""
    headers = ctx.headers or {}
    return f"authorization is {headers.get('authorization', '(none)')}"


@server.tool(structured_output=False)
async def wait(seconds: float) -> str:
    """Answer after the given seconds."""
    await anyio.sleep(seconds)
    return "waited"


@server.tool(structured_output=False)
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


@server.tool()
def crash() -> str:
    """Exit the server's process in the middle of the call."""
    os._exit(3)


def triple(x: int) -> int:
    """Three times x."""
    return 3 * x


@server.tool(structured_output=False)
async def enable_triple(ctx: Context) -> str:
    """Add the tool triple and tell the client that the tool list changed."""
    server.add_tool(triple)
    if ctx.protocol_version is not None and ctx.protocol_version >= "2026":
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_tool_list_changed()
    return "triple enabled"


def serve_http() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(sock.getsockname()[1], flush=True)  # noqa: T201 (the port, for the test)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["--http"]:
        serve_http()
    else:
        server.run()
