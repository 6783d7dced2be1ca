"""The egress policy: address classes, the allowlist, redirects and the connect-time check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import pytest

from smolit.config import SecuritySettings
from smolit.errors import ConfigError, EgressDeniedError
from smolit.security.egress import EgressPolicy, address_class
from tests.unit.capture_server import capture_server

PUBLIC = "93.184.216.34"


def resolver(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    return lambda host, port: table[host]


def url_of(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.3.4.5", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.8.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private"),
    ("fd12::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "reserved"),
    ("2001:db8::1", "reserved"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.5", "private"),
    ("::7f00:1", "loopback"),  # IPv4-compatible
    ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
    ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize(("address", "rule"), REFUSED)
def test_every_non_public_address_class_is_refused_naming_the_rule(address: str, rule: str) -> None:
    with pytest.raises(EgressDeniedError, match=f"is {rule}; add it to security.egress_allow"):
        EgressPolicy().check_url(url_of(address))


@pytest.mark.parametrize(
    "address", [PUBLIC, "2606:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert address_class(address) is None
    EgressPolicy().check_url(url_of(address))


def test_refusal_names_the_address_and_the_setting() -> None:
    with pytest.raises(EgressDeniedError) as caught:
        EgressPolicy().check_url("http://10.0.0.5:8080/x")
    assert caught.value.message == (
        "address 10.0.0.5 is private; add it to security.egress_allow to allow it"
    )
    assert caught.value.details["rule"] == "private"


def test_a_name_resolving_to_a_refused_address_is_refused() -> None:
    policy = EgressPolicy(resolver=resolver({"intranet.test": ["10.0.0.5"]}))
    with pytest.raises(EgressDeniedError, match="address 10.0.0.5 of intranet.test is private"):
        policy.check_url("https://intranet.test/")


def test_one_refused_address_among_public_ones_refuses_the_host() -> None:
    policy = EgressPolicy(resolver=resolver({"mixed.test": [PUBLIC, "127.0.0.1"]}))
    with pytest.raises(EgressDeniedError, match="loopback"):
        policy.check_url("http://mixed.test/")


def test_a_public_name_passes() -> None:
    EgressPolicy(resolver=resolver({"example.test": [PUBLIC]})).check_url("http://example.test/")


def test_allowlisted_host_name_passes_whatever_it_resolves_to() -> None:
    policy = EgressPolicy(["Intranet.Test"], resolver=resolver({"intranet.test": ["10.0.0.5"]}))
    policy.check_url("http://intranet.test./docs")


def test_allowlisted_cidr_passes_its_addresses_only() -> None:
    policy = EgressPolicy(["10.0.0.0/8", "fd00::/8"])
    policy.check_url("http://10.1.2.3/")
    policy.check_url("http://[fd00::5]/")
    with pytest.raises(EgressDeniedError, match="192.168.1.1 is private"):
        policy.check_url("http://192.168.1.1/")


def test_allowlisted_single_address() -> None:
    EgressPolicy(["::1"]).check_url("http://[::1]:8000/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.test/", "gopher://x/"])
def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(EgressDeniedError, match="only http and https"):
        EgressPolicy().check_url(url)


def test_an_invalid_allowlist_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="security.egress_allow: 'http://x/'"):
        EgressPolicy(["http://x/"])


def test_the_policy_of_equal_settings_is_built_once() -> None:
    first = EgressPolicy.from_settings(SecuritySettings(egress_allow=["10.0.0.0/8"]))
    assert EgressPolicy.from_settings(SecuritySettings(egress_allow=["10.0.0.0/8"])) is first


def test_refusals_are_logged_for_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(EgressDeniedError):
        EgressPolicy().check_url("http://169.254.169.254/latest/meta-data/")
    assert "169.254.169.254 is link-local" in caplog.text


# --- the HTTP clients -------------------------------------------------------------------


def test_client_refuses_a_loopback_server_without_connecting() -> None:
    with capture_server() as target, pytest.raises(EgressDeniedError, match="loopback"):
        EgressPolicy().client(timeout=5).get(target.url)
    assert not target.reached


def test_client_reaches_an_allowlisted_server() -> None:
    with capture_server() as target, EgressPolicy(["127.0.0.1"]).client(timeout=5) as client:
        assert client.get(target.url).status_code == 200
    assert len(target.requests) == 1


def test_dns_rebinding_cannot_swap_the_checked_address() -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])  # public for the check, loopback after it
    policy = EgressPolicy(resolver=lambda host, port: next(answers))
    with capture_server() as target:
        url = f"http://rebind.test:{target.port}/"
        policy.check_url(url)
        with pytest.raises(EgressDeniedError, match="127.0.0.1 of rebind.test is loopback"):
            policy.client(timeout=5).get(url)
    assert not target.reached


def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    # the operating system cannot resolve svc.test: only the checked address is used
    policy = EgressPolicy(["127.0.0.1"], resolver=resolver({"svc.test": ["127.0.0.1"]}))
    with capture_server() as target, policy.client(timeout=5) as client:
        client.get(f"http://svc.test:{target.port}/")
    assert target.requests[0]["headers"]["Host"] == f"svc.test:{target.port}"


def test_a_redirect_to_a_refused_address_is_not_followed() -> None:
    policy = EgressPolicy(["public.test"], resolver=resolver({"public.test": ["127.0.0.1"]}))
    with (
        capture_server() as inner,
        capture_server(redirect_to=f"{inner.url}/secret") as outer,
        pytest.raises(EgressDeniedError, match="address 127.0.0.1 is loopback"),
    ):
        policy.client(timeout=5).get(f"http://public.test:{outer.port}/")
    assert len(outer.requests) == 1 and not inner.reached


def test_redirects_beyond_the_limit_are_refused() -> None:
    policy = EgressPolicy(["127.0.0.1"], max_redirects=2)
    with capture_server() as loop:
        loop.redirect_to = loop.url
        with pytest.raises(EgressDeniedError, match=r"more than 2 redirects .*max_redirects"):
            policy.client(timeout=5).get(loop.url)
    assert len(loop.requests) == 3


def test_proxy_environment_variables_cannot_route_around_the_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.0.0.5:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with capture_server() as target, EgressPolicy(["127.0.0.1"]).client(timeout=5) as client:
        assert client.get(target.url).status_code == 200


def test_async_client_checks_at_connect_time_too() -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    policy = EgressPolicy(resolver=lambda host, port: next(answers))

    async def fetch(url: str) -> None:
        policy.check_url(url)
        async with policy.async_client(timeout=5) as client:
            await client.get(url)

    with capture_server() as target, pytest.raises(EgressDeniedError, match="loopback"):
        asyncio.run(fetch(f"http://rebind.test:{target.port}/"))
    assert not target.reached


def test_async_client_reaches_an_allowlisted_server() -> None:
    async def fetch(url: str) -> int:
        async with EgressPolicy(["127.0.0.1"]).async_client(timeout=5) as client:
            return (await client.get(url)).status_code

    with capture_server() as target:
        assert asyncio.run(fetch(target.url)) == 200
