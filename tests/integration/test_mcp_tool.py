"""The ``mcp`` tool source against a real MCP server (``mcp_calc_server.py``, written with
the SDK's ``MCPServer``), over stdio and over streamable HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.security.egress import EgressPolicy
from smolit.tools import (
    ENTRY_POINT_GROUP,
    ToolCallLimits,
    ToolContext,
    ToolFactories,
    ToolRegistry,
    ToolResult,
    run_tool_call,
)
from smolit.tools.mcp import McpServer, McpTool, build_mcp_servers

SERVER = Path(__file__).with_name("mcp_calc_server.py")
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
TOKEN = "tok-2b8e6f0a4c9d"
LIMITS = ToolCallLimits(timeout_s=30)


def _context(**security: Any) -> ToolContext:
    settings = Settings(security=security, secrets={"env": ["CALC_TOKEN"]})
    return ToolContext.from_settings(settings, {"CALC_TOKEN": TOKEN})


def _stdio(**server: Any) -> dict[str, Any]:
    entry = {"name": "calc", "command": sys.executable, "args": [str(SERVER)], **server}
    return {"servers": [entry]}


def _start(settings: dict[str, Any], context: ToolContext | None = None) -> McpServer:
    (server,) = build_mcp_servers(settings, context or _context())
    return server


def _tool(server: McpServer, mcp_name: str) -> McpTool:
    (tool,) = [tool for tool in server.tools() if tool.mcp_name == mcp_name]
    return tool


def _call(server: McpServer, mcp_name: str, arguments: dict[str, Any] | None = None) -> ToolResult:
    tool = _tool(server, mcp_name)
    return asyncio.run(run_tool_call(tool, arguments or {}, LIMITS)).result


@pytest.fixture(scope="module")
def calc() -> Iterator[McpServer]:
    """One stdio server for the tests that leave it as they found it."""
    server = _start(_stdio(env={"CALC_TOKEN": {"secret": "CALC_TOKEN"}}))
    yield server
    server.close_sync()


@pytest.fixture
def own_calc() -> Iterator[McpServer]:
    """A stdio server of the test's own, for tests that change or kill it."""
    server = _start(_stdio())
    yield server
    server.close_sync()


# --- stdio ---------------------------------------------------------------------------------


def test_every_tool_is_listed_with_its_schema(calc: McpServer) -> None:
    names = [tool.name for tool in calc.tools()]
    assert names[:3] == ["calc_add", "calc_echo", "calc_fail"]
    add = _tool(calc, "add").spec
    assert add.description == "Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"


def test_annotations_decide_whether_a_call_may_be_repeated(calc: McpServer) -> None:
    assert _tool(calc, "add").spec.idempotent  # readOnlyHint
    assert not _tool(calc, "fail").spec.idempotent  # destructiveHint
    assert not _tool(calc, "echo").spec.idempotent  # no hints: not repeated


def test_structured_result_is_json(calc: McpServer) -> None:
    assert _call(calc, "add", {"a": 2, "b": 40}) == ToolResult({"total": 42})


def test_text_result_is_text(calc: McpServer) -> None:
    assert _call(calc, "echo", {"text": "hello"}) == ToolResult("hello")


def test_error_result_has_the_error_flag(calc: McpServer) -> None:
    result = _call(calc, "fail", {"message": "no such city"})
    assert result.is_error
    assert "no such city" in result.as_text()


def test_image_becomes_a_placeholder(calc: McpServer) -> None:
    assert _call(calc, "picture") == ToolResult("[image/png, 48 bytes]")


def test_env_secret_reaches_the_server_and_never_comes_back(calc: McpServer) -> None:
    assert _call(calc, "token") == ToolResult("token is ***")


def test_parallel_calls_share_the_connection(calc: McpServer) -> None:
    async def both() -> list[ToolResult]:
        slow = run_tool_call(_tool(calc, "wait"), {"seconds": 0.2}, LIMITS)
        quick = [run_tool_call(_tool(calc, "echo"), {"text": str(n)}, LIMITS) for n in range(4)]
        outcomes = await asyncio.gather(slow, *quick)
        return [outcome.result for outcome in outcomes]

    pid = _call(calc, "pid")
    assert asyncio.run(both()) == [ToolResult(text) for text in ("waited", "0", "1", "2", "3")]
    assert _call(calc, "pid") == pid


def test_late_call_is_cancelled_and_the_connection_stays(calc: McpServer) -> None:
    late = asyncio.run(run_tool_call(_tool(calc, "wait"), {"seconds": 60}, ToolCallLimits(0.5)))
    assert late.result == ToolResult.failure("tool 'calc_wait' did not finish within 0.5 s")
    assert _call(calc, "echo", {"text": "still here"}) == ToolResult("still here")


def test_server_killed_mid_call_fails_readably_and_restarts(own_calc: McpServer) -> None:
    first_pid = _call(own_calc, "pid").as_text()
    result = _call(own_calc, "crash")
    assert result.is_error
    assert "the connection to MCP server 'calc' closed during the call" in result.as_text()
    assert "started again on the next call" in result.as_text()
    assert _call(own_calc, "echo", {"text": "back"}) == ToolResult("back")
    assert _call(own_calc, "pid").as_text() != first_pid


def test_tool_list_change_refreshes_the_tools(own_calc: McpServer) -> None:
    async def enable() -> list[str]:
        loop = asyncio.get_running_loop()
        changed: asyncio.Future[list[str]] = loop.create_future()

        def settle(names: list[str]) -> None:
            if not changed.done():
                changed.set_result(names)

        def seen(tools: list[McpTool]) -> None:
            loop.call_soon_threadsafe(settle, [tool.name for tool in tools])

        own_calc.on_tools_changed(seen)
        await run_tool_call(_tool(own_calc, "enable_triple"), {}, LIMITS)
        return await asyncio.wait_for(changed, 20)

    assert "calc_triple" in asyncio.run(enable())
    assert _call(own_calc, "triple", {"x": 4}) == ToolResult({"result": 12})


def test_selected_tool_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"servers\[0\]\.tools: the server offers no tool 'sub'"):
        build_mcp_servers(_stdio(tools=["add", "sub"]), _context())


def test_server_that_cannot_start_says_why() -> None:
    settings = _stdio(args=["-c", "import sys; sys.exit('no database at /srv/db')"])
    with pytest.raises(ConfigError) as caught:
        build_mcp_servers(settings, _context())
    assert caught.value.message.startswith("MCP server 'calc' cannot start: ")
    assert "no database at /srv/db" in caught.value.message


def test_server_that_never_answers_is_given_up_after_connect_timeout() -> None:
    script = "import sys, time; print('loading', file=sys.stderr, flush=True); time.sleep(60)"
    settings = {"connect_timeout_s": 1, **_stdio(args=["-c", script])}
    with pytest.raises(ConfigError) as caught:
        build_mcp_servers(settings, _context())
    assert caught.value.message == (
        "MCP server 'calc' cannot start: it did not start within 1 s (connect_timeout_s); "
        "its last error output: loading"
    )


def _declared_factories() -> ToolFactories:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    return ToolFactories(
        entry_points=[
            EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared.items()
        ]
    )


def test_registry_loads_the_selected_tools_and_closes_them() -> None:
    registry = ToolRegistry(_declared_factories(), _context())
    registry.load("mcp", _stdio(tools=["add", "echo"]))
    assert registry.names() == ["calc_add", "calc_echo"]
    tool = registry.get("calc_echo")
    asyncio.run(registry.aclose())
    result = asyncio.run(run_tool_call(tool, {"text": "x"}, LIMITS)).result
    assert result == ToolResult.failure("MCP server 'calc' cannot be called: it is closed")


# --- streamable HTTP -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The MCP endpoint of the test server, run over streamable HTTP on a loopback port."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _http(url: str, **server: Any) -> dict[str, Any]:
    return {"servers": [{"name": "web", "transport": "streamable_http", "url": url, **server}]}


def test_http_tools_are_listed_and_called(http_url: str) -> None:
    server = _start(_http(http_url), _context(egress_allow=["127.0.0.1"]))
    try:
        assert _tool(server, "add").name == "web_add"
        assert _call(server, "add", {"a": 1, "b": 2}) == ToolResult({"total": 3})
        assert _call(server, "fail", {"message": "bad"}).is_error
    finally:
        server.close_sync()


def test_http_secret_header_is_sent_and_never_comes_back(http_url: str) -> None:
    authorization = {"secret": "CALC_TOKEN", "format": "Bearer {}"}
    settings = _http(http_url, headers={"Authorization": authorization}, tools=["authorization"])
    server = _start(settings, _context(egress_allow=["127.0.0.1"]))
    try:
        assert _call(server, "authorization") == ToolResult("authorization is Bearer ***")
    finally:
        server.close_sync()


def test_http_answers_are_capped_by_the_egress_policy(http_url: str) -> None:
    policy = EgressPolicy(["127.0.0.1"], max_response_bytes=100)
    with pytest.raises(ConfigError) as caught:
        build_mcp_servers(_http(http_url), ToolContext(egress=policy))
    assert caught.value.message == (
        "MCP server 'web' cannot be reached: the answer from 127.0.0.1 is larger than "
        "0.0001 MB; raise security.egress_max_response_mb to allow it"
    )


def test_http_loopback_is_refused_unless_allowed(http_url: str) -> None:
    with pytest.raises(ConfigError, match=r"refused by the egress policy: address 127\.0\.0\.1"):
        build_mcp_servers(_http(http_url), _context())


def test_http_every_connection_goes_through_the_egress_policy(http_url: str) -> None:
    """The host passes the check of the URL, then resolves to loopback when the SDK
    connects (DNS rebinding): the connection is refused."""
    port = http_url.split(":")[2].split("/")[0]
    answers = iter([["93.184.216.34"]])
    policy = EgressPolicy(resolver=lambda host, _port: next(answers, ["127.0.0.1"]))
    with pytest.raises(ConfigError) as caught:
        build_mcp_servers(_http(f"http://mcp.example:{port}/mcp"), ToolContext(egress=policy))
    assert caught.value.message == (
        "MCP server 'web' cannot be reached: address 127.0.0.1 of mcp.example is loopback; "
        "add it to security.egress_allow to allow it"
    )


def test_http_server_gone_mid_call_fails_readably() -> None:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = f"http://127.0.0.1:{int(process.stdout.readline())}/mcp"
    server = _start(_http(url), _context(egress_allow=["127.0.0.1"]))
    try:
        crashed = _call(server, "crash")
        assert crashed.is_error
        assert "the connection to MCP server 'web' closed during the call" in crashed.as_text()
        after = _call(server, "echo", {"text": "x"})
        assert after.is_error
        assert after.as_text().startswith("MCP server 'web' cannot be reached: ConnectError")
    finally:
        server.close_sync()
        process.wait(timeout=10)
