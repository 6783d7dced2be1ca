"""A small HTTP client for the CLI commands that talk to a running server."""

from __future__ import annotations

from typing import Any

import httpx

from smolit.config import load_client_settings
from smolit.errors import SmolitError


class ClientError(SmolitError):
    kind = "client_error"


class ApiClient:
    def __init__(self, url: str | None, token: str | None, timeout: float = 30) -> None:
        settings = load_client_settings(url, token)
        self.url = settings.url
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ClientError(f"the server at {self.url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach the server at {self.url} ({exc.__class__.__name__}); "
                "is it running? start it with `smolit serve` or `make run`"
            ) from exc
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            message = f"HTTP {response.status_code}"
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                message = f"{message}: {body['error'].get('message', '')}"
            if response.status_code == 401:
                message += " (set SMOLIT_TOKEN or pass --token)"
            raise ClientError(message, details={"status": response.status_code})
        return body

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def call(
    url: str | None,
    token: str | None,
    method: str,
    path: str,
    timeout: float = 30,
    **kwargs: Any,
) -> Any:
    """One request to the server, its JSON body back; errors as ``ClientError``."""
    with ApiClient(url, token, timeout=timeout) as client:
        return client.request(method, path, **kwargs)
