"""``McpTool``: one tool of an MCP server, called through the server's shared connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smolit.tools.base import Tool, ToolResult, ToolSpec

if TYPE_CHECKING:  # the server makes its tools; a tool only calls back into it
    from smolit.tools.mcp.server import McpServer


class McpTool(Tool):
    """The tool ``mcp_name`` of ``server``. ``spec`` follows the server's tool list: it is
    replaced when the server describes the tool anew."""

    def __init__(self, spec: ToolSpec, server: McpServer, mcp_name: str) -> None:
        super().__init__(spec)
        self.server = server
        self.mcp_name = mcp_name

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return await self.server.call(self.mcp_name, arguments)

    async def aclose(self) -> None:
        """Close the server (shared by its tools: the first close stops it)."""
        await self.server.aclose()
