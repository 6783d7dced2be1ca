"""A backend for any server speaking the OpenAI chat completions format.

One adapter serves OpenAI, vLLM, Ollama and llama.cpp servers: ``base_url`` is the API
root (``http://host:port/v1``), ``model`` the name the server expects. The API key is
passed in by the ``ModelManager``, which resolves ``api_key_env``; this module never
reads the environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult, ModelBackend

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
BODY_EXCERPT_CHARS = 500
MAX_RETRY_AFTER = 30.0


def _excerpt(text: str) -> str:
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["retry-after"]), MAX_RETRY_AFTER)
    except (KeyError, ValueError):
        return None


class OpenAICompatibleBackend(ModelBackend):
    """Talks to ``POST {base_url}/chat/completions`` with a synchronous httpx client."""

    def __init__(
        self,
        name: str,
        definition: ModelDefinition,
        api_key: str | None = None,
        *,
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, definition)
        reason = self.check_definition(definition)
        if reason is not None:
            raise ConfigError(f"model {name!r}: {reason}", details={"model": name})
        self.url = (definition.base_url or "").rstrip("/") + "/chat/completions"
        self.remote_model = definition.model or name
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(definition.timeout, connect=min(definition.timeout, 10.0))
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_definition(
        cls, name: str, definition: ModelDefinition, *, api_key: str | None = None
    ) -> ModelBackend:
        return cls(name, definition, api_key=api_key)

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        if not definition.base_url:
            return "the openai backend needs base_url (e.g. http://localhost:8080/v1)"
        if not definition.base_url.startswith(("http://", "https://")):
            return f"base_url {definition.base_url!r} must start with http:// or https://"
        return None

    def _details(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.name, "url": self.url, **extra}

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST with retries on 429, 5xx and connection errors; the last answer or error wins."""
        attempt = 0
        while True:
            delay = self.backoff * (2**attempt)
            try:
                response = self._client.post(self.url, json=body)
            except RETRY_ERRORS as exc:
                if attempt >= self.retries:
                    raise ModelError(
                        f"model {self.name!r}: cannot reach {self.url}: {exc}",
                        details=self._details(error=type(exc).__name__),
                    ) from exc
                logger.warning("model %r: %s, retrying in %.1fs", self.name, exc, delay)
            except httpx.HTTPError as exc:
                raise ModelError(
                    f"model {self.name!r}: request to {self.url} failed: {exc}",
                    details=self._details(error=type(exc).__name__),
                ) from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    return response
                delay = _retry_after(response) or delay
                logger.warning(
                    "model %r: upstream answered %d, retrying in %.1fs",
                    self.name,
                    response.status_code,
                    delay,
                )
            attempt += 1
            self._sleep(delay)

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        body = {
            "model": self.remote_model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "stream": False,
        }
        started = time.perf_counter()
        response = self._post(body)
        seconds = time.perf_counter() - started
        if not response.is_success:
            raise ModelError(
                f"model {self.name!r}: upstream answered {response.status_code}",
                details=self._details(status=response.status_code, body=_excerpt(response.text)),
            )
        return self._parse(response, seconds)

    def _parse(self, response: httpx.Response, seconds: float) -> GenerationResult:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError("message content is not a string")
            usage = data.get("usage") or {}
            return GenerationResult(
                text=text,
                model=self.name,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                seconds=seconds,
                finish_reason=str(choice.get("finish_reason") or "stop"),
                extra={"upstream_model": str(data.get("model") or self.remote_model)},
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"model {self.name!r}: malformed response from {self.url}: {exc}",
                details=self._details(status=response.status_code, body=_excerpt(response.text)),
            ) from exc

    def close(self) -> None:
        self._client.close()
