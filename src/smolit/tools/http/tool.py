"""``HttpTool``: one HTTP operation as a tool, called through the egress policy.

A call builds the request from the arguments, sends it with a client of
``EgressPolicy.async_client`` (a new one per call: no connection outlives the call, nor
its event loop) and reads the answer:

- **bounds**: each attempt has ``timeout_s`` in all (connecting, sending, reading); the
  body is read as a stream and the call fails once it passes ``max_response_bytes``;
- **retries**, at most ``retries`` times, after ``backoff_s`` doubling each time, or after
  the ``Retry-After`` the server sends (seconds or a date); a ``Retry-After`` longer than
  ``max_retry_after_s`` is not waited for, the answer stands. An **idempotent** operation
  is retried on a connection failure, a connection closed without an answer, and HTTP 429,
  500, 502, 503, 504. A **non-idempotent** one (POST, PATCH, DELETE unless declared
  idempotent) only when the request cannot have been acted on: the connection could not
  be opened (nothing was sent), HTTP 429 (rate limited, so refused), or HTTP 503 with a
  ``Retry-After`` (the server says it did not take it and when to come back);
- **results**: a 2xx JSON answer is the JSON value, any other 2xx answer its text (a
  body that claims to be JSON but is not is text too); a final non-2xx answer is an error
  result with the status and the start of the body; a refusal of the egress policy is an
  error result that names the rule;
- **secrets**: the values of the secret store (and of the operation's secret headers)
  are masked in every result and message; secret headers go to the operation's origin
  only, never to another host a redirect leads to. Logs name the tool and the status.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from smolit.errors import EgressDeniedError
from smolit.redact import mask_secrets, redact_text
from smolit.tools.base import JsonValue, Tool, ToolResult, ToolSpec
from smolit.tools.context import ToolContext
from smolit.tools.http.endpoint import Endpoint, Request

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
#: characters of an error answer's body shown in the result
EXCERPT_CHARS = 300
IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: nothing was sent: safe to retry any request
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
#: the connection broke without an answer: the request may have been acted on
NO_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(frozen=True)
class CallOptions:
    """The bounds of one call: per-attempt seconds, body bytes, retries and their waits."""

    timeout_s: float
    max_response_bytes: int = 100_000
    retries: int = 2
    backoff_s: float = 0.5
    max_retry_after_s: float = 30.0


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    #: the body passed ``max_response_bytes`` and holds only the first bytes
    truncated: bool
    encoding: str | None


def retry_after_s(headers: httpx.Headers, now: float) -> float | None:
    """The seconds ``Retry-After`` asks for (a number or an HTTP date), or None."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _media_is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class HttpTool(Tool):
    """Calls one HTTP operation; every outcome is a ``ToolResult``."""

    def __init__(
        self,
        spec: ToolSpec,
        endpoint: Endpoint,
        options: CallOptions,
        context: ToolContext,
        *,
        secret_values: Iterable[str] = (),
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``secret_values``: the values in the endpoint's headers (masked with the store's);
        ``sleep`` and ``now`` (wall-clock seconds, for ``Retry-After`` dates) let tests
        run retries without waiting."""
        super().__init__(spec)
        self.endpoint = endpoint
        self.options = options
        self._egress = context.egress
        self._known = sorted({*context.secrets.known_values(), *secret_values}, key=len)
        self._sleep = sleep
        self._now = now

    # --- masking ------------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        return redact_text(text, self._known)

    def _mask_data(self, value: Any) -> JsonValue:
        if isinstance(value, str):
            return mask_secrets(value, self._known)
        if isinstance(value, list):
            return [self._mask_data(item) for item in value]
        if isinstance(value, dict):
            return {mask_secrets(k, self._known): self._mask_data(v) for k, v in value.items()}
        return value  # type: ignore[no-any-return]

    def _failure(self, message: str) -> ToolResult:
        return ToolResult.failure(self._mask(message))

    # --- the call -----------------------------------------------------------------------

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        request = self.endpoint.request(arguments)
        try:
            async with self._egress.async_client(timeout=self.options.timeout_s) as client:
                client.event_hooks = {"request": [self._keep_secrets_at_origin]}
                return await self._with_retries(client, request)
        except EgressDeniedError as exc:
            rule = exc.details.get("rule", "egress")
            return self._failure(f"request refused by the egress policy ({rule}): {exc.message}")

    async def _keep_secrets_at_origin(self, request: httpx.Request) -> None:
        """Drop secret headers from a request (a redirect hop) to another origin."""
        origin = (request.url.scheme, request.url.host, request.url.port)
        if origin != self.endpoint.origin():
            for name in self.endpoint.secret_headers:
                request.headers.pop(name, None)

    async def _with_retries(self, client: httpx.AsyncClient, request: Request) -> ToolResult:
        where = f"{request.method} {request.url}"
        attempt = 0
        while True:
            delay = min(self.options.backoff_s * 2**attempt, self.options.max_retry_after_s)
            try:
                answer = await self._attempt(client, request)
            except NOT_SENT as exc:
                if attempt >= self.options.retries:
                    return self._failure(f"cannot reach {where}: {type(exc).__name__}: {exc}")
            except NO_ANSWER as exc:
                if attempt >= self.options.retries or not self.spec.idempotent:
                    return self._failure(
                        f"the connection to {where} broke without an answer: "
                        f"{type(exc).__name__}: {exc}"
                    )
            except (TimeoutError, httpx.TimeoutException):
                return self._failure(f"no answer from {where} within {self.options.timeout_s:g} s")
            except httpx.HTTPError as exc:
                return self._failure(f"request {where} failed: {type(exc).__name__}: {exc}")
            else:
                if 200 <= answer.status < 300:
                    return self._success(answer, where)
                wait, note = self._retry_wait(answer, attempt, delay)
                if wait is None:
                    return self._status_failure(answer, where, note)
                delay = wait
                logger.warning(
                    "tool %r: HTTP %d, retry %d in %.1f s",
                    self.name,
                    answer.status,
                    attempt + 1,
                    delay,
                )
            attempt += 1
            await self._sleep(delay)

    def _retry_wait(
        self, answer: _Answer, attempt: int, backoff: float
    ) -> tuple[float | None, str]:
        """How long to wait before retrying ``answer`` (None: do not), and a note why not."""
        if attempt >= self.options.retries:
            return None, f" (after {attempt} retries)" if attempt else ""
        asked = retry_after_s(answer.headers, self._now())
        if self.spec.idempotent:
            retry = answer.status in IDEMPOTENT_RETRY_STATUSES
        else:
            retry = answer.status == 429 or (answer.status == 503 and asked is not None)
        if not retry:
            return None, ""
        if asked is None:
            return backoff, ""
        if asked > self.options.max_retry_after_s:
            return None, (
                f" (the server asks to retry after {asked:g} s, more than max_retry_after_s "
                f"{self.options.max_retry_after_s:g})"
            )
        return asked, ""

    async def _attempt(self, client: httpx.AsyncClient, request: Request) -> _Answer:
        async with asyncio.timeout(self.options.timeout_s):
            body: dict[str, Any] = {"json": request.body} if request.has_body else {}
            async with client.stream(
                request.method,
                request.url,
                params=request.params,
                headers=request.headers,
                **body,
            ) as response:
                return await self._read(response)

    async def _read(self, response: httpx.Response) -> _Answer:
        cap = self.options.max_response_bytes
        received = bytearray()
        truncated = False
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            truncated = True
        else:
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > cap:
                    truncated = True
                    break
        return _Answer(
            status=response.status_code,
            reason=response.reason_phrase,
            headers=response.headers,
            body=bytes(received[:cap]),
            truncated=truncated,
            encoding=response.charset_encoding,
        )

    # --- results ------------------------------------------------------------------------

    def _text(self, answer: _Answer) -> str:
        try:
            return answer.body.decode(answer.encoding or "utf-8", errors="replace")
        except LookupError:  # an unknown charset
            return answer.body.decode("utf-8", errors="replace")

    def _success(self, answer: _Answer, where: str) -> ToolResult:
        if answer.truncated:
            return self._failure(
                f"the answer of {where} is larger than the cap of "
                f"{self.options.max_response_bytes:,} bytes (max_response_bytes)"
            )
        if not answer.body:
            return ToolResult(f"HTTP {answer.status} {answer.reason}, no content")
        if _media_is_json(answer.headers.get("content-type", "")):
            try:
                data = json.loads(answer.body, parse_constant=_refuse_constant)
            except ValueError:
                pass  # a body that claims to be JSON and is not: its text
            else:
                return ToolResult(self._mask_data(data))
        return ToolResult(mask_secrets(self._text(answer), self._known))

    def _status_failure(self, answer: _Answer, where: str, note: str) -> ToolResult:
        text = " ".join(self._text(answer).split())
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS - 1] + "…"
        excerpt = f": {text}" if text else ""
        return self._failure(
            f"HTTP {answer.status} {answer.reason} from {where}{note}{excerpt}".rstrip()
        )
