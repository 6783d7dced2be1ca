"""Requests of the ``http`` tool: URL templates and quoting, queries, headers, bodies,
and the ``Retry-After`` the retries honour."""

from __future__ import annotations

import httpx
import pytest

from smolit.tools.http.endpoint import Binding, Endpoint, fill_url, quote_segment
from smolit.tools.http.tool import retry_after_s

TEMPLATE = "https://api.example.com/repos/{owner}/{repo}"


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "plain"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b?c#d&e", "a%20b%3Fc%23d%26e"),
        ("café", "caf%C3%A9"),
        ("%2F", "%252F"),
        (7, "7"),
        (True, "true"),
    ],
)
def test_path_values_are_quoted_into_one_segment(value: object, quoted: str) -> None:
    assert quote_segment(value) == quoted


def test_template_is_filled_by_placeholder_name() -> None:
    url = fill_url(TEMPLATE, {"owner": "../admin", "repo": "x"})
    assert url == "https://api.example.com/repos/..%2Fadmin/x"


def _endpoint(*bindings: Binding, headers: dict[str, str] | None = None) -> Endpoint:
    url = "https://api.example.com/issues"
    return Endpoint(method="POST", url=url, bindings=bindings, headers=headers or {})


def test_query_lists_repeat_the_key_and_absent_or_null_values_are_left_out() -> None:
    endpoint = _endpoint(
        Binding("labels", "query", "labels"),
        Binding("open", "query", "state_open"),
        Binding("page", "query", "page"),
        Binding("sort", "query", "sort"),
    )
    request = endpoint.request({"labels": ["bug", "ui"], "open": False, "sort": None})
    assert request.params == (("labels", "bug"), ("labels", "ui"), ("state_open", "false"))


def test_body_arguments_make_a_json_object() -> None:
    endpoint = _endpoint(Binding("title", "body", "title"), Binding("draft", "body", "draft"))
    request = endpoint.request({"title": "Fix", "draft": True})
    assert request.has_body and request.body == {"title": "Fix", "draft": True}


def test_no_body_argument_sends_no_body() -> None:
    request = _endpoint(Binding("title", "body", "title")).request({})
    assert not request.has_body


def test_whole_body_argument_is_sent_as_it_is() -> None:
    request = _endpoint(Binding("body", "body_value", "")).request({"body": [1, 2]})
    assert request.has_body and request.body == [1, 2]


def test_fixed_headers_win_over_header_arguments() -> None:
    endpoint = _endpoint(
        Binding("auth", "header", "authorization"),
        Binding("trace", "header", "X-Trace"),
        headers={"Authorization": "Bearer configured"},
    )
    request = endpoint.request({"auth": "Bearer forged", "trace": 12})
    assert request.headers == {"X-Trace": "12", "Authorization": "Bearer configured"}


def test_retry_after_in_seconds() -> None:
    assert retry_after_s(httpx.Headers({"Retry-After": "7"}), now=0) == 7


def test_retry_after_as_a_date_counts_from_now() -> None:
    headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
    assert retry_after_s(headers, now=1445412480.0) == 10


def test_retry_after_in_the_past_is_no_wait() -> None:
    headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_s(headers, now=1445412490.0) == 0


@pytest.mark.parametrize("value", ["", "soon", "-3", "1.5e3"])
def test_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str) -> None:
    assert retry_after_s(httpx.Headers({"Retry-After": value}), now=0) is None
