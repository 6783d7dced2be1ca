"""Where documents come from: files and directories under allowed roots, and HTTP(S) URLs.

Paths are checked against ``knowledge.allowed_roots`` after resolving symbolic links, so
neither ``..`` nor a link can reach outside. A directory source takes the files whose path
relative to it, or whose name, matches one of its ``include`` patterns and none of its
``exclude`` patterns (``fnmatch`` patterns, where ``*`` also crosses ``/``); without
``include`` it takes every file of a supported type. Hidden files and directories are
skipped. URLs are fetched through the egress policy (``security.egress_allow``: every hop
and connection is checked) with conditional requests (ETag, Last-Modified), a timeout and a
size cap; the ``Content-Type`` picks the extractor, else the URL's suffix.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from smolit.errors import KnowledgeError, NotFoundError, ValidationError
from smolit.knowledge.extraction import SUPPORTED_SUFFIXES, suffix_for_mime
from smolit.knowledge.records import SourceItem, SourceKind
from smolit.security.egress import EgressPolicy

USER_AGENT = "smolit-knowledge-sync"


def is_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def check_url(location: str) -> str:
    parts = urlsplit(location)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"not an http(s) URL: {location!r}", details={"location": location})
    return location


def check_allowed(path: Path, roots: Sequence[Path]) -> Path:
    """``path`` resolved; ``ValidationError`` unless it lies under one of ``roots``."""
    resolved = Path(os.path.realpath(path))
    if any(resolved.is_relative_to(os.path.realpath(root)) for root in roots):
        return resolved
    allowed = ", ".join(str(root) for root in roots) or "none"
    raise ValidationError(
        f"{path} is outside the allowed roots ({allowed}); add a directory above it to "
        "knowledge.allowed_roots in the configuration to allow it",
        details={"path": str(path), "allowed_roots": [str(root) for root in roots]},
    )


def classify(location: str, roots: Sequence[Path]) -> tuple[SourceKind, str]:
    """The kind of source at ``location`` and its normalised form (absolute path or URL)."""
    if is_url(location):
        return "url", check_url(location)
    if "://" in location:
        raise ValidationError(
            f"unsupported URL scheme in {location!r} (use http or https)",
            details={"location": location},
        )
    path = Path(os.path.abspath(Path(location).expanduser()))
    check_allowed(path, roots)
    if path.is_dir():
        return "directory", str(path)
    if path.is_file():
        return "file", str(path)
    raise NotFoundError(f"{path}: no such file or directory", details={"path": str(path)})


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = PurePosixPath(relative).name
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def list_files(
    directory: Path, include: Sequence[str], exclude: Sequence[str]
) -> list[tuple[str, Path]]:
    """(path relative to ``directory`` in POSIX form, path) of the files a source takes."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in PurePosixPath(relative).parts):
            continue
        if not path.is_file() or _matches(relative, exclude):
            continue
        if include and not _matches(relative, include):
            continue
        if not include and path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        found.append((relative, path))
    return found


@dataclass(frozen=True)
class Fetched:
    """A URL's content, what names its type, and the validators for the next request."""

    data: bytes
    name: str
    suffix: str
    etag: str | None
    last_modified: str | None

    @property
    def modified(self) -> datetime | None:
        try:
            return parsedate_to_datetime(self.last_modified) if self.last_modified else None
        except (TypeError, ValueError):
            return None


def _conditional_headers(previous: SourceItem | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if previous is not None and previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous is not None and previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def _name_and_suffix(url: str, content_type: str | None) -> tuple[str, str]:
    parts = urlsplit(url)
    name = PurePosixPath(parts.path).name or parts.hostname or "index"
    suffix = suffix_for_mime(content_type) or PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValidationError(
            f"{url}: unsupported content type {content_type or '(none)'}",
            details={"url": url, "content_type": content_type},
        )
    return name, suffix


def fetch(
    url: str, previous: SourceItem | None, timeout: float, max_bytes: int, egress: EgressPolicy
) -> Fetched | None:
    """Download ``url``; None when the server says it has not changed since ``previous``.

    A hop or connection the egress policy refuses raises ``EgressDeniedError``."""
    try:
        with (
            egress.client(timeout=timeout) as client,
            client.stream("GET", url, headers=_conditional_headers(previous)) as response,
        ):
            if response.status_code == 304:
                return None
            if response.is_error:
                raise KnowledgeError(
                    f"{url}: HTTP {response.status_code} {response.reason_phrase}",
                    details={"url": url, "status": response.status_code},
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes)
            data = bytearray()
            for block in response.iter_bytes():
                data.extend(block)
                if len(data) > max_bytes:
                    raise _too_large(url, max_bytes)
            headers = response.headers
    except httpx.TimeoutException as exc:
        raise KnowledgeError(f"{url}: no answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise KnowledgeError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
    name, suffix = _name_and_suffix(url, headers.get("content-type"))
    return Fetched(bytes(data), name, suffix, headers.get("etag"), headers.get("last-modified"))


def _too_large(url: str, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"{url}: larger than {max_bytes / 1e6:g} MB (knowledge.max_file_mb)",
        details={"url": url, "limit": max_bytes},
    )
