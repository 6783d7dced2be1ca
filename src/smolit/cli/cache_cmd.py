"""``python -m smolit.cache``: clear the caches and show their statistics.

With a server URL (``--url`` or ``SMOLIT_URL``, token from ``--token`` or
``SMOLIT_TOKEN``) both commands go through the server's API, which reaches every cache,
the in-memory ones included. Without one they work on the data directory (``--home`` or
``SMOLIT_HOME``) directly: the embedding cache on disk (diskcache is safe to share with a
running server) and the Redis tier. In-memory caches live in the server process, so
clearing those needs the server.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smolit.cache.embedding import EmbeddingCache
from smolit.cache.manager import CACHE_TYPES, check_type, embeddings_dir, shared_redis_url
from smolit.cache.redis_tier import RedisTier
from smolit.cache.signing import Signer
from smolit.cli import output
from smolit.cli.client import call
from smolit.cli.entry import run
from smolit.cli.options import ConfigOption, HomeOption, JsonOption, TokenOption, UrlOption
from smolit.config import Settings, load_settings, process_environment
from smolit.errors import StorageError, ValidationError
from smolit.security.deployment_key import deployment_key_source
from smolit.units import MIB

IN_PROCESS_NOTE = (
    "in-memory caches live in the server process: set SMOLIT_URL and SMOLIT_TOKEN "
    "(or pass --url and --token) to clear them through the server's API"
)

app = typer.Typer(
    name="smolit.cache",
    help="Clear Agent-NN's caches and show their statistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

TypeOption = Annotated[
    str | None,
    typer.Option("--type", "-t", help=f"one of {', '.join(CACHE_TYPES)}; all when absent"),
]


def _server_url(url: str | None) -> str | None:
    return url or process_environment().get("SMOLIT_URL") or None


class _StoredTiers:
    """The caches that outlive the server process: the disk tier and Redis."""

    def __init__(self, settings: Settings) -> None:
        share = settings.cache.shares.embedding
        self.embedding = EmbeddingCache(
            embeddings_dir(settings.home),
            int(settings.system.cache_size * MIB * share),
            policy=settings.cache.policy,
            default_ttl=settings.cache.default_ttl,
            # resolved only if a value is read or written: clearing and counting are not
            signer=Signer(deployment_key_source(settings, process_environment())),
        )
        url = shared_redis_url(settings)
        self.redis = RedisTier(url) if url else None

    def reachable_redis(self) -> RedisTier | None:
        if self.redis is not None and not self.redis.available:
            raise StorageError(f"the Redis cache tier at {self.redis.url} cannot be reached")
        return self.redis

    def clear(self, names: list[str]) -> tuple[dict[str, int], list[str]]:
        """Entries removed per tier, and the caches only the server process can clear."""
        cleared: dict[str, int] = {}
        left: list[str] = []
        for name in names:
            if name == "embedding":
                cleared["embedding (disk)"] = self.embedding.clear()
            if name in ("embedding", "response") and self.redis is not None:
                cleared[f"{name} (redis)"] = self.redis.clear(name) or 0
                self.reachable_redis()
            if name != "embedding":
                left.append(name)
        return cleared, left

    def stats(self) -> dict[str, Any]:
        disk = self.embedding.stats()
        stats: dict[str, Any] = {
            "embedding (disk)": {
                "entries": disk["entries"],
                "bytes": disk["bytes"],
                "limit_bytes": disk["limit_bytes"],
                "directory": disk["directory"],
            }
        }
        if self.redis is not None:
            for name in ("embedding", "response"):
                stats[f"{name} (redis)"] = {"entries": self.redis.count(name) or 0}
            self.reachable_redis()
        return stats

    def close(self) -> None:
        self.embedding.close()
        if self.redis is not None:
            self.redis.close()


@app.command()
def clear(
    cache_type: TypeOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Empty every cache, or the one --type names."""
    name = check_type(cache_type) if cache_type is not None else None
    server = _server_url(url)
    if server is not None:
        body = call(server, token, "DELETE", "/cache", params={"type": name} if name else None)
        _report({f"{k} (server)": v for k, v in body["cleared"].items()}, [], as_json)
        return
    tiers = _StoredTiers(load_settings(config, home))
    try:
        cleared, left = tiers.clear([name] if name else list(CACHE_TYPES))
    finally:
        tiers.close()
    if name is not None and not cleared:
        raise ValidationError(f"the {name} cache: {IN_PROCESS_NOTE}")
    _report(cleared, left, as_json)


def _report(cleared: dict[str, int], left: list[str], as_json: bool) -> None:
    note = f"not cleared ({', '.join(left)}): {IN_PROCESS_NOTE}" if left else None
    if as_json:
        output.emit_json({"cleared": cleared, "note": note})
        return
    for tier, count in cleared.items():
        output.line(f"{tier}: {count} entries removed")
    if note:
        output.line(f"note: {note}")


@app.command()
def stats(
    config: ConfigOption = None,
    home: HomeOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show hits, misses, evictions, entries and bytes per cache."""
    server = _server_url(url)
    if server is not None:
        body = call(server, token, "GET", "/cache")
        if as_json:
            output.emit_json(body)
            return
        rows = [_row(name, s) for name, s in body["caches"].items()]
        output.table(
            [
                "cache",
                "entries",
                "bytes",
                "limit",
                "hits",
                "misses",
                "hit rate",
                "rejected",
                "evictions",
            ],
            rows,
        )
        return
    tiers = _StoredTiers(load_settings(config, home))
    try:
        found = tiers.stats()
    finally:
        tiers.close()
    if as_json:
        output.emit_json({"caches": found, "note": IN_PROCESS_NOTE})
        return
    for tier, s in found.items():
        output.line(f"{tier}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    output.line(f"note: {IN_PROCESS_NOTE}")


def _row(name: str, s: dict[str, Any]) -> list[str]:
    rate = "-" if s["hit_rate"] is None else f"{s['hit_rate']:.1%}"
    evictions = ", ".join(f"{k} {v}" for k, v in s["evictions"].items())
    return [
        name,
        str(s["entries"]),
        str(s["bytes"]),
        str(s["limit_bytes"]),
        str(s["hits"]),
        str(s["misses"]),
        rate,
        str(s["rejected"]),
        evictions,
    ]


def main(argv: list[str] | None = None) -> None:
    run(app, argv)
