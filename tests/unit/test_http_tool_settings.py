"""The ``http`` tool source: settings validation, declared operations, secret headers."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from smolit.config import SecretsSettings
from smolit.errors import ConfigError
from smolit.security.secrets import SecretStore
from smolit.tools import ENTRY_POINT_GROUP, ToolContext, ToolFactories, ToolRegistry
from smolit.tools.http import HttpTool, build_http_tools

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TOKEN = "ghp-very-secret-token-value"
BASE = "https://api.example.com/v1"


def _context(**environ: str) -> ToolContext:
    secrets = SecretStore(SecretsSettings(env=["GITHUB_TOKEN", "EMPTY_TOKEN"]), environ)
    return ToolContext(secrets=secrets)


def _operation(**fields: Any) -> dict[str, Any]:
    return {"name": "get_user", "description": "One user by id.", "url": "/users/{id}", **fields}


def _tools(settings: dict[str, Any], context: ToolContext | None = None) -> list[HttpTool]:
    tools = build_http_tools(settings, context or _context(GITHUB_TOKEN=TOKEN))
    assert all(isinstance(tool, HttpTool) for tool in tools)
    return [tool for tool in tools if isinstance(tool, HttpTool)]


def _one(operation: dict[str, Any], **settings: Any) -> HttpTool:
    (tool,) = _tools({"base_url": BASE, "operations": [operation], **settings})
    return tool


def _config_error(settings: dict[str, Any], context: ToolContext | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        build_http_tools(settings, context or _context(GITHUB_TOKEN=TOKEN))
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value.details)
    return info.value.message


def test_declared_operation_becomes_a_tool_with_a_schema_from_its_parameters() -> None:
    tool = _one(
        _operation(
            examples=["who is user 7"],
            parameters={
                "id": {"type": "integer", "description": "the user's number"},
                "fields": {"in": "query", "type": "array"},
            },
        )
    )
    assert tool.spec.name == "get_user" and tool.spec.examples == ("who is user 7",)
    assert tool.spec.parameters == {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "the user's number"},
            "fields": {"type": "array"},
        },
        "additionalProperties": False,
        "required": ["id"],
    }
    assert tool.endpoint.url == f"{BASE}/users/{{id}}" and tool.endpoint.method == "GET"


def test_parameter_not_in_the_url_defaults_to_the_query() -> None:
    tool = _one(_operation(parameters={"id": {}, "page": {"type": "integer"}}))
    request = tool.endpoint.request({"id": "7", "page": 2})
    assert request.params == (("page", "2"),)


def test_unknown_setting_is_named_with_its_path() -> None:
    message = _config_error({"base_url": BASE, "operations": [_operation(urll="/x")]})
    assert "operations[0].urll: Extra inputs are not permitted" in message


def test_wrong_method_is_named() -> None:
    message = _config_error({"base_url": BASE, "operations": [_operation(method="FETCH")]})
    assert "operations[0].method" in message


def test_method_is_case_insensitive_and_post_is_not_idempotent() -> None:
    tool = _one(_operation(method="post", url="/users", name="create_user"))
    assert tool.endpoint.method == "POST" and tool.spec.idempotent is False


def test_operation_may_declare_itself_idempotent() -> None:
    tool = _one(_operation(method="DELETE", idempotent=True, parameters={"id": {}}))
    assert tool.spec.idempotent is True


def test_put_and_get_are_idempotent_by_default() -> None:
    assert _one(_operation(method="PUT", parameters={"id": {}})).spec.idempotent is True
    assert _one(_operation(parameters={"id": {}})).spec.idempotent is True


def test_url_placeholder_without_a_parameter_is_refused() -> None:
    message = _config_error({"base_url": BASE, "operations": [_operation()]})
    assert message == "operations[0].url: {id} is not one of the operation's parameters"


def test_path_parameter_missing_from_the_url_is_refused() -> None:
    operation = _operation(url="/users", parameters={"id": {"in": "path"}})
    message = _config_error({"base_url": BASE, "operations": [operation]})
    assert "operations[0].parameters.id: in: path, but the URL has no {id}" in message


def test_placeholder_in_the_host_is_refused() -> None:
    operation = _operation(url="https://{id}.example.com/users", parameters={"id": {}})
    message = _config_error({"operations": [operation]})
    assert "placeholders may only stand in the path" in message


def test_relative_url_without_base_url_is_refused() -> None:
    message = _config_error({"operations": [_operation(parameters={"id": {}})]})
    assert "operations[0].url" in message and "there is no base_url" in message


def test_body_parameter_of_a_get_is_refused() -> None:
    operation = _operation(parameters={"id": {}, "name": {"in": "body"}})
    message = _config_error({"base_url": BASE, "operations": [operation]})
    assert "operations[0].parameters.name: a GET request sends no body" in message


def test_connection_header_cannot_be_an_argument() -> None:
    operation = _operation(parameters={"id": {}, "Host": {"in": "header"}})
    assert "is a header of the connection" in _config_error(
        {"base_url": BASE, "operations": [operation]}
    )


def test_secret_header_is_filled_from_the_allowlisted_secret() -> None:
    secret = {"secret": "GITHUB_TOKEN", "format": "Bearer {}"}
    tool = _one(_operation(parameters={"id": {}}), headers={"Authorization": secret})
    assert tool.endpoint.headers == {"Authorization": f"Bearer {TOKEN}"}
    assert tool.endpoint.secret_headers == frozenset({"authorization"})


def test_secret_not_on_the_allowlist_is_refused_naming_the_setting() -> None:
    operation = _operation(parameters={"id": {}}, headers={"X-Key": {"secret": "HOME"}})
    message = _config_error({"base_url": BASE, "operations": [operation]})
    assert message.startswith("operations[0].headers.X-Key: secret 'HOME' is not allowlisted")


def test_allowlisted_secret_without_a_value_is_refused() -> None:
    message = _config_error(
        {
            "base_url": BASE,
            "headers": {"X-Key": {"secret": "EMPTY_TOKEN"}},
            "operations": [_operation(parameters={"id": {}})],
        },
    )
    assert "headers.X-Key: secret 'EMPTY_TOKEN' is allowlisted but has no value" in message


def test_secret_format_needs_one_placeholder() -> None:
    secret = {"secret": "GITHUB_TOKEN", "format": "Bearer"}
    message = _config_error({"base_url": BASE, "headers": {"Authorization": secret}})
    assert "headers.Authorization.format" in message and "exactly once" in message


def test_unknown_key_in_a_secret_reference_is_refused() -> None:
    secret = {"secret": "GITHUB_TOKEN", "prefix": "Bearer "}
    message = _config_error({"base_url": BASE, "headers": {"Authorization": secret}})
    assert "headers.Authorization.prefix: Extra inputs are not permitted" in message


def test_operation_headers_override_the_common_ones_by_name() -> None:
    tool = _one(
        _operation(parameters={"id": {}}, headers={"authorization": "none"}),
        headers={"Authorization": {"secret": "GITHUB_TOKEN"}, "Accept": "application/json"},
    )
    assert tool.endpoint.headers == {"Accept": "application/json", "authorization": "none"}
    assert tool.endpoint.secret_headers == frozenset()


def test_names_select_openapi_operations_only() -> None:
    message = _config_error({"base_url": BASE, "operations": ["get_user"]})
    assert "no openapi is given" in message


def test_settings_without_operations_are_refused() -> None:
    assert "give openapi" in _config_error({"base_url": BASE})


def test_prefix_goes_before_every_tool_name() -> None:
    tool = _one(_operation(parameters={"id": {}}), prefix="gh_")
    assert tool.name == "gh_get_user"


def test_two_operations_with_one_name_are_refused() -> None:
    operation = _operation(parameters={"id": {}})
    message = _config_error({"base_url": BASE, "operations": [operation, operation]})
    assert "two operations are called 'get_user'" in message


def test_timeout_and_size_cap_default_to_the_context_call_limits() -> None:
    tool = _one(_operation(parameters={"id": {}}))
    assert tool.options.timeout_s == ToolContext().limits.timeout_s
    assert tool.options.max_response_bytes == ToolContext().limits.max_result_bytes


def _declared_factories() -> ToolFactories:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    return ToolFactories(
        entry_points=[EntryPoint(n, v, ENTRY_POINT_GROUP) for n, v in declared.items()]
    )


def test_http_is_registered_through_the_smolit_tools_entry_point() -> None:
    registry = ToolRegistry(_declared_factories(), _context(GITHUB_TOKEN=TOKEN))
    registry.load("http", {"base_url": BASE, "operations": [_operation(parameters={"id": {}})]})
    assert isinstance(registry.get("get_user"), HttpTool)


def test_factory_errors_name_the_factory() -> None:
    with pytest.raises(ConfigError, match=r"tool factory 'http': invalid settings: retries"):
        _declared_factories().build("http", {"base_url": BASE, "retries": -1})
