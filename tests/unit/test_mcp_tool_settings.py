"""The ``mcp`` tool source without a server: its settings, tool names and results."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from smolit.config import Settings
from smolit.errors import ConfigError, EgressDeniedError
from smolit.tools import ToolContext
from smolit.tools.mcp import build_mcp_servers
from smolit.tools.mcp.connection import describe
from smolit.tools.mcp.naming import MAX_NAME, ToolNames
from smolit.tools.mcp.results import NO_CONTENT, tool_result
from smolit.tools.mcp.settings import parse_settings

TOKEN = "tok-5e1d9a7c3b"


def _stdio(**server: Any) -> dict[str, Any]:
    return {"servers": [{"name": "calc", "command": sys.executable, **server}]}


def _context() -> ToolContext:
    settings = Settings(secrets={"env": ["CALC_TOKEN", "UNSET_TOKEN"]})
    return ToolContext.from_settings(settings, {"CALC_TOKEN": TOKEN})


def _config_error(settings: dict[str, Any], context: ToolContext | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        build_mcp_servers(settings, context or _context())
    return caught.value.message


# --- settings ------------------------------------------------------------------------------


def test_stdio_needs_a_command() -> None:
    message = _config_error({"servers": [{"name": "calc"}]})
    assert message == "servers[0].command: required for transport 'stdio'"


def test_streamable_http_needs_a_url() -> None:
    message = _config_error({"servers": [{"name": "calc", "transport": "streamable_http"}]})
    assert message == "servers[0].url: required for transport 'streamable_http'"


def test_unknown_transport_is_named() -> None:
    message = _config_error(_stdio(transport="websocket"))
    assert "servers[0].transport: Input should be 'stdio' or 'streamable_http'" in message


def test_setting_of_the_other_transport_is_refused() -> None:
    message = _config_error(_stdio(url="http://example.com/mcp"))
    assert message == "servers[0].url: not a setting of transport 'stdio'"


def test_unknown_key_is_refused() -> None:
    assert "servers[0].comand: Extra inputs are not permitted" in _config_error(_stdio(comand="x"))


def test_no_servers_is_refused() -> None:
    assert "servers: List should have at least 1 item" in _config_error({"servers": []})


def test_server_names_are_unique() -> None:
    settings = {"servers": [_stdio()["servers"][0], _stdio()["servers"][0]]}
    assert _config_error(settings) == "servers[1].name: two servers are called 'calc'"


def test_server_name_must_fit_tool_names() -> None:
    settings = {"servers": [{"name": "my server", "command": "x"}]}
    assert "servers[0].name: String should match pattern" in _config_error(settings)


def test_command_not_on_path_is_named() -> None:
    settings = {"servers": [{"name": "calc", "command": "no-such-mcp-server-7d1"}]}
    assert _config_error(settings) == (
        "servers[0].command: 'no-such-mcp-server-7d1' is not found on PATH"
    )


def test_command_path_must_be_an_executable_file(tmp_path: Path) -> None:
    settings = {"servers": [{"name": "calc", "command": "./missing/server"}]}
    message = _config_error(settings, ToolContext(base_dir=tmp_path))
    assert message == f"servers[0].command: '{tmp_path}/missing/server' is not an executable file"


def test_env_secret_must_be_allowlisted() -> None:
    message = _config_error(_stdio(env={"TOKEN": {"secret": "OTHER_TOKEN"}}))
    assert message.startswith("servers[0].env.TOKEN: secret 'OTHER_TOKEN' is not allowlisted")


def test_env_secret_must_have_a_value() -> None:
    message = _config_error(_stdio(env={"TOKEN": {"secret": "UNSET_TOKEN"}}))
    assert message == "servers[0].env.TOKEN: secret 'UNSET_TOKEN' is allowlisted but has no value"


def test_header_secret_must_be_allowlisted() -> None:
    settings = {
        "servers": [
            {
                "name": "calc",
                "transport": "streamable_http",
                "url": "http://93.184.216.34/mcp",
                "headers": {"Authorization": {"secret": "OTHER", "format": "Bearer {}"}},
            }
        ]
    }
    message = _config_error(settings)
    assert message.startswith("servers[0].headers.Authorization: secret 'OTHER' is not allowlisted")


def test_loopback_url_is_refused_by_the_egress_policy() -> None:
    settings = {
        "servers": [
            {"name": "calc", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
        ]
    }
    assert _config_error(settings) == (
        "servers[0].url: refused by the egress policy: address 127.0.0.1 is loopback; "
        "add it to security.egress_allow to allow it"
    )


def test_settings_errors_never_quote_values() -> None:
    message = _config_error(_stdio(env={"TOKEN": {"secret": TOKEN}}))
    assert TOKEN not in message


def test_default_prefix_is_the_server_name() -> None:
    parsed = parse_settings(_stdio())
    assert parsed.servers[0].tool_prefix() == "calc_"
    assert parse_settings(_stdio(prefix="")).servers[0].tool_prefix() == ""


# --- tool names ----------------------------------------------------------------------------


def test_tool_name_is_prefix_and_tool() -> None:
    assert ToolNames().name("calc", "calc_", "add") == "calc_add"


def test_other_characters_become_underscores() -> None:
    assert ToolNames().name("files", "files_", "read/file.txt") == "files_read_file_txt"


def test_long_name_is_cut_with_a_hash() -> None:
    name = ToolNames().name("calc", "calc_", "x" * 100)
    assert len(name) == MAX_NAME
    assert name.startswith("calc_xxx")


def test_colliding_names_stay_distinct() -> None:
    names = ToolNames()
    first = names.name("a", "a_", "b_c")
    second = names.name("a_b", "a_b_", "c")
    third = names.name("a", "a_", "b.c")
    assert first == "a_b_c"
    assert len({first, second, third}) == 3
    assert all(len(name) <= MAX_NAME for name in (second, third))


def test_a_name_stays_with_its_tool() -> None:
    names = ToolNames()
    first = names.name("a", "a_", "b.c")
    names.name("a", "a_", "b_c")
    assert names.name("a", "a_", "b.c") == first


# --- results -------------------------------------------------------------------------------


def _result(*content: Any, structured: Any = None, is_error: bool = False) -> Any:
    return types.CallToolResult(
        content=list(content), structured_content=structured, is_error=is_error
    )


def test_structured_content_is_the_json_value() -> None:
    text = types.TextContent(text='{"total": 5}')
    result = tool_result(_result(text, structured={"total": 5}))
    assert result.content == {"total": 5}
    assert not result.is_error


def test_text_blocks_are_joined() -> None:
    blocks = (types.TextContent(text="one"), types.TextContent(text="two"))
    assert tool_result(_result(*blocks)).content == "one\ntwo"


def test_error_flag_is_kept_and_text_shown() -> None:
    result = tool_result(_result(types.TextContent(text="no such city"), is_error=True))
    assert result.is_error
    assert result.content == "no such city"


def test_image_and_audio_are_placeholders() -> None:
    data = base64.b64encode(bytes(2048)).decode()
    image = types.ImageContent(data=data, mime_type="image/png")
    audio = types.AudioContent(data=base64.b64encode(bytes(10)).decode(), mime_type="audio/wav")
    assert tool_result(_result(image, audio)).content == (
        "[image/png, 2,048 bytes]\n[audio/wav, 10 bytes]"
    )


def test_resources_are_described_not_followed() -> None:
    link = types.ResourceLink(name="report", uri="file:///srv/report.pdf")
    embedded = types.EmbeddedResource(
        resource=types.TextResourceContents(uri="file:///srv/a.txt", text="hello")
    )
    assert tool_result(_result(link, embedded)).content == (
        "[resource report: file:///srv/report.pdf]\n[resource file:///srv/a.txt]\nhello"
    )


def test_no_content_says_so() -> None:
    assert tool_result(_result()).content == NO_CONTENT


def test_secrets_are_masked_in_text_and_json() -> None:
    text = tool_result(_result(types.TextContent(text=f"key={TOKEN}")), [TOKEN])
    data = tool_result(_result(structured={"key": [TOKEN]}), [TOKEN])
    assert TOKEN not in text.as_text()
    assert TOKEN not in data.as_text()


# --- why a connection ended ----------------------------------------------------------------


def test_describe_prefers_our_own_failure_in_a_group() -> None:
    refusal = EgressDeniedError("address 10.0.0.5 is private", details={"rule": "private"})
    group = ExceptionGroup("transport", [ExceptionGroup("posts", [OSError("reset"), refusal])])
    assert describe(group) == "address 10.0.0.5 is private"


def test_describe_names_the_type_of_a_plain_failure() -> None:
    assert describe(ExceptionGroup("x", [ConnectionResetError("peer reset")])) == (
        "ConnectionResetError: peer reset"
    )
    assert describe(MCPError(code=-32000, message="Connection closed")) == "Connection closed"
