"""Masking of secrets in anything shown: URLs, messages, error bodies, log records.

``redact_text`` masks the password in a URL's userinfo (``redis://:***@host``), the values
of secret-looking parameters (``password=``, ``passwd=``, ``pwd=``, ``token=``,
``secret=``, ``api_key=``, case-insensitive, in query strings or ``k=v`` text; ``key=``
and ``token=`` in query strings),
bearer tokens (``snn_...`` and ``Bearer xxx``) and every known secret value: those
passed, and those registered for the process with ``register_secrets`` (the composition
root registers the values its ``SecretStore`` can hand out, and the passwords of the
storage and queue URLs). ``RedactingFilter`` applies it to log records.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import TypeVar, cast
from urllib.parse import unquote

MASK = "***"
T = TypeVar("T")

#: the password of a URL's userinfo: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^\s/?#]*(?=@)")
#: secret-looking parameters, in query strings (?password=x&...) or key=value text; the
#: generic names ``key`` and ``token`` only in a query string (``?key=``, ``&token=``), so
#: that text such as "use KEY=VALUE" stays readable
_SECRET_PARAMETER = re.compile(
    r"(?i)(?P<head>(?:(?<![A-Za-z0-9_])(?:password|passwd|pwd|secret|api_key|apikey"
    r"|access_token)|(?<=[?&])(?:token|key))=)[^&\s#;,'\"]+"
)
_BEARER = re.compile(r"(?i)(?P<head>\bBearer\s+)[^\s'\",;]+")
_API_TOKEN = re.compile(r"\bsnn_[A-Za-z0-9_-]+")
#: shorter values are not masked: they would mask ordinary words
MIN_SECRET_LENGTH = 4


def _mask_values(text: str, values: Iterable[str]) -> str:
    for value in sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_secrets(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with the ``known`` secret values, and those registered for the process,
    replaced by ``***``, and nothing else changed (for data, where the patterns of
    ``redact_text`` would mask ordinary values)."""
    return _mask_values(text, [*known, *process_secrets.values()])


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with passwords, tokens and the ``known`` secret values (and those
    registered for the process) replaced by ``***``."""
    text = _mask_values(text, [*known, *process_secrets.values()])
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)
    text = _SECRET_PARAMETER.sub(rf"\g<head>{MASK}", text)
    text = _BEARER.sub(rf"\g<head>{MASK}", text)
    return _API_TOKEN.sub(f"snn_{MASK}", text)


def redact_url(url: str) -> str:
    """``url`` without its password or secret query parameters, for messages and logs."""
    return redact_text(url)


def redact_data(data: T) -> T:
    """``data`` (JSON-like: dicts, lists, strings) with ``redact_text`` applied to every
    string in it, keys included."""
    if isinstance(data, str):
        return cast(T, redact_text(data))
    if isinstance(data, dict):
        return cast(T, {redact_data(k): redact_data(v) for k, v in data.items()})
    if isinstance(data, list | tuple):
        return cast(T, type(data)(redact_data(item) for item in data))
    return data


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo (decoded), to register as a known secret."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:([^\s/?#]*)@", url)
    return unquote(match.group(1)) if match and match.group(1) else None


class KnownSecrets:
    """The secret values of this process (thread-safe), masked wherever text is shown."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def register(self, values: Iterable[str | None]) -> None:
        with self._lock:
            self._values = self._values | {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}

    def values(self) -> frozenset[str]:
        return self._values

    def clear(self) -> None:
        with self._lock:
            self._values = frozenset()


#: the process's registry; like the logging configuration, one per process
process_secrets = KnownSecrets()


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask ``values`` in every log record and shown text of this process from now on."""
    process_secrets.register(values)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message (its arguments merged in) and exception text,
    before any formatter (text or JSON) sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the formatter reports it (handleError)
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
