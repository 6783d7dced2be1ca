"""The egress policy: where the server's own outbound HTTP requests may go.

Every request the server makes because someone configured or asked for it (knowledge URL
sources, OpenAI-compatible model backends, tools) goes through one ``EgressPolicy``:

- only ``http`` and ``https``;
- the host is resolved and every address it resolves to must be public: loopback,
  private (with the 100.64.0.0/10 shared space and fc00::/7), link-local, multicast,
  unspecified and other reserved addresses are refused, also inside IPv4-mapped,
  IPv4-compatible, 6to4, Teredo and NAT64 IPv6 forms, unless the host name or an
  address/CIDR covering the address is listed in ``security.egress_allow``;
- the checks run again for every redirect hop (at most ``security.egress_max_redirects``)
  and at connect time, where the connection goes to the address just checked (no second
  lookup, so DNS rebinding cannot swap it) while TLS still verifies the host name;
- proxy environment variables are ignored (``trust_env=False``).

A refusal is an ``EgressDeniedError`` whose message names the rule, logged as a warning.
``check_url`` needs no network when the resolver is injected, and is cheap: the allowlist
is parsed once and address classes are cached.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from smolit.config import SecuritySettings
from smolit.errors import ConfigError, EgressDeniedError
from smolit.security.egress_transport import EgressAsyncTransport, EgressTransport

logger = logging.getLogger(__name__)

#: the configuration key that lifts a refusal, named in every message
ALLOW_KEY = "security.egress_allow"
SCHEMES = frozenset({"http", "https"})

#: (host, port) -> the addresses the host resolves to, in connection order
Resolver = Callable[[str, int], Sequence[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CLASSES: tuple[tuple[str, tuple[Network, ...]], ...] = tuple(
    (name, tuple(ipaddress.ip_network(n) for n in networks))
    for name, networks in (
        ("unspecified", ("0.0.0.0/8", "::/128")),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")),
        ("private", ("fc00::/7",)),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to through the operating system, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a name IDNA cannot encode resolves to nothing
        raise OSError(f"{host!r} is not a valid host name") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@functools.lru_cache(maxsize=4096)
def address_class(address: str) -> str | None:
    """Why ``address`` is refused ('loopback', 'private', 'link-local', 'multicast',
    'unspecified', 'reserved'), or None for a public address."""
    ip: Address = ipaddress.ip_address(address.partition("%")[0])
    for name, networks in _CLASSES:
        if any(ip in network for network in networks):
            return name
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_class(str(inner))
    return None if ip.is_global else "reserved"


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.partition("%")[0]))
    except ValueError:
        return None


def _parse_allow(entries: Sequence[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        text = _normal_host(entry)
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.match(text):
            raise ConfigError(
                f"{ALLOW_KEY}: {entry!r} is neither a host name nor an address or CIDR",
                details={"key": ALLOW_KEY, "entry": entry},
            )
        names.add(text)
    return frozenset(names), tuple(networks)


class EgressPolicy:
    """Decides which outbound requests may go, and builds HTTP clients that obey it."""

    def __init__(
        self,
        allow: Sequence[str] = (),
        *,
        max_redirects: int = 5,
        max_response_bytes: int = 64_000_000,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._names, self._networks = _parse_allow(allow)
        self.max_redirects = max_redirects
        self.max_response_bytes = max_response_bytes
        self._resolver = resolver

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> EgressPolicy:
        """The policy of ``security.egress_allow`` / ``egress_max_redirects`` /
        ``egress_max_response_mb`` (cached)."""
        return _policy(
            tuple(security.egress_allow),
            security.egress_max_redirects,
            int(security.egress_max_response_mb * 1_000_000),
        )

    # --- checks -------------------------------------------------------------------------

    def check_url(self, url: str) -> str:
        """``url`` if a request to it may go now; ``EgressDeniedError`` naming the rule.

        A host that cannot be resolved passes here: the connection fails later, and the
        connect-time check decides on the address it really uses.
        """
        host, port = self.target(url)
        if host in self._names:
            return url
        try:
            self.addresses(host, port)
        except OSError as exc:
            logger.debug("egress check of %s deferred to connect time: %s", host, exc)
        return url

    def target(self, url: str | httpx.URL) -> tuple[str, int]:
        """(host, port) of an http(s) URL; other schemes are refused."""
        try:
            parts = urlsplit(str(url))
            hostname = parts.hostname or ""
        except ValueError:
            raise self._deny("an outbound URL must be a valid URL", rule="host") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise self._deny(
                f"scheme {scheme or '(none)'!r} is not allowed for outbound requests "
                "(only http and https)",
                rule="scheme",
            )
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            port = 0
        host = _normal_host(hostname)
        if not host or not port:
            raise self._deny("an outbound URL needs a host and a valid port", rule="host")
        return host, port

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, each allowed (or the host is allowlisted
        by name); ``EgressDeniedError`` when any is refused, ``OSError`` when none resolve."""
        host = _normal_host(host)
        literal = _literal(host)
        found = [literal] if literal is not None else list(self._resolver(host, port))
        if not found:
            raise OSError(f"{host} resolves to no address")
        if host not in self._names:
            for address in found:
                self._check_address(host, address)
        return found

    def _check_address(self, host: str, address: str) -> None:
        rule = address_class(address)
        if rule is None:
            return
        ip = ipaddress.ip_address(address.partition("%")[0])
        if any(ip in network for network in self._networks):
            return
        where = "" if _literal(host) == str(ip) else f" of {host}"
        raise self._deny(
            f"address {ip}{where} is {rule}; add it to {ALLOW_KEY} to allow it",
            rule=rule,
            host=host,
            address=str(ip),
        )

    def too_many_redirects(self, url: httpx.URL) -> EgressDeniedError:
        return self._deny(
            f"more than {self.max_redirects} redirects from {url.host} "
            "(security.egress_max_redirects)",
            rule="redirects",
            host=url.host,
        )

    @staticmethod
    def _deny(message: str, *, rule: str, **details: Any) -> EgressDeniedError:
        logger.warning("outbound request refused: %s", message)
        return EgressDeniedError(message, details={"rule": rule, **details})

    # --- clients ------------------------------------------------------------------------

    def client(
        self,
        *,
        timeout: float | httpx.Timeout,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Client:
        """A synchronous client whose every connection and redirect obeys this policy."""
        options = self._client_options(timeout, headers, follow_redirects)
        return _Client(self, transport=EgressTransport(self), **options)

    def async_client(
        self,
        *,
        timeout: float | httpx.Timeout,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.AsyncClient:
        """The asynchronous twin of ``client``."""
        options = self._client_options(timeout, headers, follow_redirects)
        return _AsyncClient(self, transport=EgressAsyncTransport(self), **options)

    def _client_options(
        self,
        timeout: float | httpx.Timeout,
        headers: Mapping[str, str] | None,
        follow_redirects: bool,
    ) -> dict[str, Any]:
        return {
            "timeout": timeout,
            "headers": headers,
            "follow_redirects": follow_redirects,
            "max_redirects": self.max_redirects,
            "trust_env": False,  # proxy variables must not route around the policy
        }


@functools.lru_cache(maxsize=16)
def _policy(allow: tuple[str, ...], max_redirects: int, max_response_bytes: int) -> EgressPolicy:
    return EgressPolicy(allow, max_redirects=max_redirects, max_response_bytes=max_response_bytes)


class _Client(httpx.Client):
    """Turns httpx's redirect cap into the policy's refusal."""

    def __init__(self, policy: EgressPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return super().send(request, **kwargs)
        except httpx.TooManyRedirects as exc:
            raise self._policy.too_many_redirects(request.url) from exc


class _AsyncClient(httpx.AsyncClient):
    def __init__(self, policy: EgressPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return await super().send(request, **kwargs)
        except httpx.TooManyRedirects as exc:
            raise self._policy.too_many_redirects(request.url) from exc
