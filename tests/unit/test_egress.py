"""The egress policy: address classes, the allowlist, redirects and the connect-time check."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
    with pytest.raises(EgressDeniedError, match=r"address 10.0.0.5 of intranet.test is private"):
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
    with pytest.raises(EgressDeniedError, match=r"192.168.1.1 is private"):
        policy.check_url("http://192.168.1.1/")


def test_allowlisted_single_address() -> None:
    EgressPolicy(["::1"]).check_url("http://[::1]:8000/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.test/", "gopher://x/"])
def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(EgressDeniedError, match="only http and https"):
        EgressPolicy().check_url(url)


@pytest.mark.parametrize("url", ["http://[::1/", "http:///path", "http://host:99999/"])
def test_a_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(EgressDeniedError, match="valid"):
        EgressPolicy().check_url(url)


def test_an_invalid_allowlist_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"security.egress_allow: 'http://x/'"):
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
        with pytest.raises(EgressDeniedError, match=r"127.0.0.1 of rebind.test is loopback"):
            policy.client(timeout=5).get(url)
    assert not target.reached


def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    # the operating system cannot resolve svc.test: only the checked address is used
    policy = EgressPolicy(["127.0.0.1"], resolver=resolver({"svc.test": ["127.0.0.1"]}))
    with capture_server() as target, policy.client(timeout=5) as client:
        client.get(f"http://svc.test:{target.port}/")
    assert target.requests[0]["headers"]["Host"] == f"svc.test:{target.port}"


def self_signed(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A certificate for ``name`` (its file, to trust) and a server context serving it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


def test_tls_verifies_the_host_name_on_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, server_tls = self_signed(tmp_path, "svc.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    policy = EgressPolicy(["svc.test"], resolver=resolver({"svc.test": ["127.0.0.1"]}))
    with capture_server(tls=server_tls) as target, policy.client(timeout=5) as client:
        assert client.get(f"https://svc.test:{target.port}/").status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            EgressPolicy(["127.0.0.1"]).client(timeout=5).get(f"https://127.0.0.1:{target.port}/")


def test_a_redirect_to_a_refused_address_is_not_followed() -> None:
    policy = EgressPolicy(["public.test"], resolver=resolver({"public.test": ["127.0.0.1"]}))
    with (
        capture_server() as inner,
        capture_server(redirect_to=f"{inner.url}/secret") as outer,
        pytest.raises(EgressDeniedError, match=r"address 127.0.0.1 is loopback"),
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


@pytest.mark.parametrize("undeclared_length", [False, True])
def test_an_answer_over_the_size_cap_is_refused_naming_the_setting(
    undeclared_length: bool,
) -> None:
    policy = EgressPolicy(["127.0.0.1"], max_response_bytes=16)
    with (
        capture_server(undeclared_length=undeclared_length) as target,
        policy.client(timeout=5) as client,
        pytest.raises(EgressDeniedError, match=r"security.egress_max_response_mb"),
    ):
        client.get(target.url)


def test_async_answers_are_capped_too() -> None:
    async def fetch(url: str) -> None:
        policy = EgressPolicy(["127.0.0.1"], max_response_bytes=16)
        async with policy.async_client(timeout=5) as client:
            await client.get(url)

    with (
        capture_server(undeclared_length=True) as target,
        pytest.raises(EgressDeniedError, match="larger than"),
    ):
        asyncio.run(fetch(target.url))


def test_the_size_cap_comes_from_the_settings() -> None:
    policy = EgressPolicy.from_settings(SecuritySettings(egress_max_response_mb=0.5))
    assert policy.max_response_bytes == 500_000
