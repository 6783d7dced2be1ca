"""HTTPS for ``smolit serve``: which certificate and key, checked before the server starts.

``--tls-cert``/``--tls-key`` win over ``server.tls_cert``/``server.tls_key`` (relative
paths in the configuration file are relative to that file). Both or neither; both must
load as a matching PEM pair, or start-up stops with one line naming the problem.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from smolit.config import Settings
from smolit.errors import ConfigError

READABLE_REASONS = {"KEY_VALUES_MISMATCH": "the key does not belong to the certificate"}


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def _no_passphrase() -> bytes:
    # an encrypted key fails to load instead of prompting on the terminal
    return b""


def _setting_path(settings: Settings, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and settings.config_file is not None:
        path = settings.config_file.parent / path
    return path


def server_tls(settings: Settings, cert: Path | None, key: Path | None) -> TlsFiles | None:
    """The certificate and key to serve HTTPS with, checked; None for plain HTTP."""
    cert = cert or _setting_path(settings, settings.server.tls_cert)
    key = key or _setting_path(settings, settings.server.tls_key)
    if cert is None and key is None:
        return None
    if key is None:
        raise ConfigError(
            "TLS needs a private key too: --tls-key (server.tls_key) is missing",
            details={"missing": "server.tls_key"},
        )
    if cert is None:
        raise ConfigError(
            "TLS needs a certificate too: --tls-cert (server.tls_cert) is missing",
            details={"missing": "server.tls_cert"},
        )
    for name, path in (("certificate", cert), ("private key", key)):
        if not path.is_file():
            raise ConfigError(f"TLS {name} {path}: file not found", details={"file": str(path)})
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert, key, password=_no_passphrase
        )
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        reason = READABLE_REASONS.get(reason, reason)
        raise ConfigError(
            f"cannot load the TLS certificate {cert} with the key {key}: {reason} "
            "(a PEM certificate and its unencrypted PEM private key are needed)",
            details={"cert": str(cert), "key": str(key)},
        ) from exc
    return TlsFiles(cert=cert, key=key)
