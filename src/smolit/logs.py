"""Logging set-up for entry points, and the request id that follows a task.

Library code only calls ``logging.getLogger(__name__)``; the CLI's ``serve`` and ``worker``
call ``configure_logging`` once. The request id of an HTTP call (its ``X-Request-ID``
header, or one generated) is held in a context variable: the API sets it per request, the
task runner sets it from the task's stored request id while it runs the task (in any
process), and ``RequestIdFilter`` puts it on every log record. ``RedactingFilter`` masks
passwords, tokens and the process's registered secret values in every record.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

from smolit.redact import RedactingFilter

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(request_id)s]: %(message)s"

request_id_var: ContextVar[str | None] = ContextVar("smolit_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def accept_request_id(value: str | None) -> str:
    """``value`` when it is a usable id (at most 64 of ``A-Z a-z 0-9 . _ : -``), else a new
    one: a client cannot inject log lines or oversized values through the header."""
    # fullmatch: ``$`` would let a trailing newline through into logs and the echoed header
    if value is not None and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (, exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        if record.exc_text:  # already formatted (and masked) by RedactingFilter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_handler(fmt: Literal["text", "json"] = "text") -> logging.StreamHandler[TextIO]:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())  # passwords, tokens, registered secret values
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """Root logging of an entry point: ``system.log_level`` and ``system.log_format``."""
    logging.basicConfig(level=level, handlers=[log_handler(fmt)], force=True)
