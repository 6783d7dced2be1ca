"""The ``http`` tool against a real REST API on a loopback port: results, failures,
retries, caps, the egress policy and secrets that never come back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from smolit.config import Settings
from smolit.tools import Tool, ToolCallLimits, ToolContext, ToolResult, run_tool_call
from smolit.tools.http import build_http_tools
from tests.conftest import free_port
from tests.integration.rest_api import BIG_BYTES, RestApi, rest_api

TOKEN = "tok-7f3a9c1e5b2d4680"
#: loopback is refused unless allowed, the way an operator allows it
ALLOW_LOOPBACK = {"egress_allow": ["127.0.0.1", "localhost"]}


@pytest.fixture
def api() -> Iterator[RestApi]:
    with rest_api() as running:
        yield running


def _context(security: dict[str, Any] | None = None) -> ToolContext:
    settings = Settings(
        security=ALLOW_LOOPBACK if security is None else security,
        secrets={"env": ["ECHO_TOKEN"]},
    )
    return ToolContext.from_settings(settings, {"ECHO_TOKEN": TOKEN})


class Waits:
    """An injected sleep: records the waits, takes no time."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def _tool(
    api: RestApi,
    url: str,
    *,
    waits: Waits | None = None,
    context: ToolContext | None = None,
    **settings: Any,
) -> Tool:
    operation = {"name": "op", "description": "An operation.", "url": url}
    operation.update(settings.pop("operation", {}))
    (tool,) = build_http_tools(
        {"base_url": api.url, "operations": [operation], **settings},
        context or _context(),
        sleep=waits or Waits(),
    )
    return tool


def _call(tool: Tool, arguments: dict[str, Any] | None = None) -> ToolResult:
    limits = ToolCallLimits(timeout_s=20)
    return asyncio.run(run_tool_call(tool, arguments or {}, limits)).result


def _json(result: ToolResult) -> dict[str, Any]:
    assert not result.is_error, result.as_text()
    assert isinstance(result.content, dict)
    return result.content


def test_json_answer_is_the_json_value(api: RestApi) -> None:
    operation = {"parameters": {"city": {"required": True}}}
    result = _call(_tool(api, "/json", operation=operation), {"city": "Oslo"})
    assert not result.is_error
    assert result.content == {"ok": True, "query": {"city": ["Oslo"]}}


def test_text_answer_is_its_text(api: RestApi) -> None:
    result = _call(_tool(api, "/text"))
    assert not result.is_error and result.content == "plain words"


def test_body_that_claims_json_but_is_not_is_text(api: RestApi) -> None:
    result = _call(_tool(api, "/bad-json"))
    assert not result.is_error and result.content == '{"ok": tru'


def test_404_is_an_error_result_with_the_status_and_an_excerpt(api: RestApi) -> None:
    result = _call(_tool(api, "/missing"))
    assert result.is_error
    assert result.as_text() == (
        f'HTTP 404 Not Found from GET {api.url}/missing: {{"error": "no such thing here"}}'
    )
    assert api.count("GET", "/missing") == 1


def test_429_is_retried_after_the_retry_after_it_asks_for(api: RestApi) -> None:
    waits = Waits()
    result = _call(_tool(api, "/rate-limited", waits=waits))
    assert not result.is_error and result.content == {"ok": True, "attempt": 2}
    assert waits.seconds == [7.0]


def test_retry_after_beyond_the_bound_is_not_waited_for(api: RestApi) -> None:
    waits = Waits()
    result = _call(_tool(api, "/rate-limited-long", waits=waits, max_retry_after_s=60))
    assert result.is_error and waits.seconds == []
    assert "HTTP 429 Too Many Requests" in result.as_text()
    assert "asks to retry after 86400 s, more than max_retry_after_s 60" in result.as_text()


def test_500_is_retried_with_doubling_backoff_then_fails(api: RestApi) -> None:
    waits = Waits()
    result = _call(_tool(api, "/broken", waits=waits, retries=2, backoff_s=0.5))
    assert result.is_error
    assert result.as_text().startswith("HTTP 500 Internal Server Error from GET")
    assert "(after 2 retries): internal trouble" in result.as_text()
    assert waits.seconds == [0.5, 1.0] and api.count("GET", "/broken") == 3


def test_post_is_not_retried_after_a_500(api: RestApi) -> None:
    waits = Waits()
    result = _call(_tool(api, "/orders", waits=waits, operation={"method": "POST"}))
    assert result.is_error and "HTTP 500" in result.as_text()
    assert waits.seconds == [] and api.count("POST", "/orders") == 1


def test_post_is_retried_after_a_429(api: RestApi) -> None:
    waits = Waits()
    result = _call(_tool(api, "/orders-rate-limited", waits=waits, operation={"method": "POST"}))
    assert not result.is_error and waits.seconds == [7.0]


def test_oversized_answer_fails_naming_the_cap(api: RestApi) -> None:
    result = _call(_tool(api, "/big", max_response_bytes=10_000))
    assert result.is_error
    assert "larger than the cap of 10,000 bytes (max_response_bytes)" in result.as_text()


def test_oversized_answer_without_a_length_stops_at_the_cap(api: RestApi) -> None:
    result = _call(_tool(api, "/big-stream", max_response_bytes=10_000))
    assert result.is_error and "10,000 bytes" in result.as_text()
    assert _call(_tool(api, "/big-stream")).content == "x" * BIG_BYTES


def test_slow_answer_fails_at_the_timeout(api: RestApi) -> None:
    result = _call(_tool(api, "/slow", timeout_s=0.2))
    assert result.is_error
    assert result.as_text() == f"no answer from GET {api.url}/slow within 0.2 s"


def test_connection_failures_are_retried_then_reported(api: RestApi) -> None:
    waits = Waits()
    operation = {"url": f"http://127.0.0.1:{free_port()}/json"}
    result = _call(_tool(api, "/json", waits=waits, retries=1, operation=operation))
    assert result.is_error and result.as_text().startswith("cannot reach GET http://127.0.0.1:")
    assert waits.seconds == [0.5]


def test_loopback_not_allowed_by_the_egress_policy_is_refused(api: RestApi) -> None:
    result = _call(_tool(api, "/json", context=_context(security={})))
    assert result.is_error
    assert "refused by the egress policy (loopback)" in result.as_text()
    assert "security.egress_allow" in result.as_text()
    assert api.requests == []


def _echo(api: RestApi, url: str = "/echo", **operation: Any) -> Tool:
    secret = {"secret": "ECHO_TOKEN", "format": "Bearer {}"}
    return _tool(api, url, headers={"Authorization": secret}, operation=operation)


def test_secret_header_is_sent_but_never_comes_back(
    api: RestApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = asyncio.run(run_tool_call(_echo(api), {}))
    assert _json(outcome.result)["headers"]["authorization"] == "Bearer ***"
    for text in (outcome.result.as_text(), outcome.record.excerpt, caplog.text):
        assert TOKEN not in text
    assert api.authorizations == [f"Bearer {TOKEN}"]


def test_secret_is_masked_in_text_answers_too(api: RestApi) -> None:
    result = _call(_echo(api, "/echo-text"))
    assert not result.is_error and "Bearer ***" in result.as_text()
    assert TOKEN not in result.as_text()


def test_secret_header_does_not_follow_a_redirect_to_another_origin(api: RestApi) -> None:
    # httpx drops Authorization on its own; a header of another name must be dropped too
    headers = {"X-Api-Key": {"secret": "ECHO_TOKEN"}, "X-Plain": "kept"}
    result = _call(_tool(api, "/redirect", headers=headers))
    sent = _json(result)["headers"]
    assert "x-api-key" not in sent and sent["x-plain"] == "kept"
    assert api.count("GET", "/echo") == 1


def test_path_argument_stays_in_its_segment(api: RestApi) -> None:
    tool = _tool(api, "/echo/{name}", operation={"parameters": {"name": {}}})
    assert _json(_call(tool, {"name": "../admin?x=1"}))["path"] == "/echo/..%2Fadmin%3Fx%3D1"
    assert _json(_call(tool, {"name": ".."}))["path"] == "/echo/%2E%2E"


def test_post_sends_its_body_arguments_as_json(api: RestApi) -> None:
    parameters = {
        "title": {"in": "body", "required": True},
        "draft": {"in": "body", "type": "boolean"},
    }
    tool = _tool(api, "/echo", operation={"method": "POST", "parameters": parameters})
    result = _call(tool, {"title": "Fix", "draft": False})
    assert _json(result)["body"] == '{"title":"Fix","draft":false}'


def test_openapi_document_fetched_by_url_makes_tools_that_work(api: RestApi) -> None:
    (tool,) = build_http_tools({"openapi": f"{api.url}/openapi.json"}, _context())
    assert tool.name == "echoName" and tool.spec.description == "Echo the request back."
    result = _call(tool, {"name": "pet", "loud": True})
    assert _json(result)["path"] == "/echo/pet?loud=true"
