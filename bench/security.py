"""Security overhead: the time authentication and the egress check add per request.

- ``auth``: the ``Authentication`` middleware around an empty ASGI app, minus the empty app
  alone, per request: with the token cache warm (``security.token_cache_seconds``, the
  default) and with the cache off (a database lookup of the token's digest each time, on
  SQLite in a temporary home);
- ``egress``: ``EgressPolicy.check_url`` for an allowlisted host name, a public address
  literal, a public host name (the resolver is injected: this machine has no DNS) and
  ``localhost`` through the system resolver (refused: the cost of a refusal).

Target (issue 14): each under 1 ms p50. Prints one JSON object.

    python -m bench.security [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.unit.helpers import small_system

from smolit.api.auth import Authentication
from smolit.errors import EgressDeniedError
from smolit.security.egress import EgressPolicy


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1] * 1e6, 2),
    }


async def _empty_app(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _time_calls(app: Any, scope: dict[str, Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await app(dict(scope), None, None)
        samples.append(time.perf_counter() - started)
    return samples


async def _auth(count: int, cache_seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        system = small_system(Path(home), security={"token_cache_seconds": cache_seconds})
        system.prepare()
        try:
            secret = system.tokens.create("bench").secret
            middleware = Authentication(_empty_app, tokens=system.tokens)
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/tasks",
                "headers": [(b"authorization", f"Bearer {secret}".encode())],
            }
            await _time_calls(middleware, scope, 200)  # warm-up (and the cache, if on)
            with_auth = await _time_calls(middleware, scope, count)
            bare = await _time_calls(_empty_app, scope, count)
        finally:
            system.close()
    added = statistics.median(with_auth) - statistics.median(bare)
    return {**_summary(with_auth), "added_p50_us": round(added * 1e6, 2)}


def _time_check(check: Callable[[], object], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        with contextlib.suppress(EgressDeniedError):
            check()
        samples.append(time.perf_counter() - started)
    return _summary(samples)


def _egress(count: int) -> dict[str, dict[str, float]]:
    def public_resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    injected = EgressPolicy(["models.internal"], resolver=public_resolver)
    system = EgressPolicy(["models.internal"])
    return {
        "allowlisted_name": _time_check(
            lambda: injected.check_url("https://models.internal/v1"), count
        ),
        "public_literal": _time_check(lambda: system.check_url("https://93.184.215.14/x"), count),
        "public_name": _time_check(lambda: injected.check_url("https://example.org/doc"), count),
        "refused_localhost": _time_check(
            lambda: system.check_url("http://localhost:8080/admin"), min(count, 2000)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # each refusal logs a warning: not timed output
    result = {
        "auth_cached": asyncio.run(_auth(args.requests, 5.0)),
        "auth_uncached": asyncio.run(_auth(min(args.requests, 2000), 0.0)),
        "egress": _egress(args.requests),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
