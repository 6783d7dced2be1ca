"""``python -m smolit.monitor``: a live dashboard of a running server, refreshing in place;
``--once --json`` prints one snapshot. A server that is down is retried."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from smolit.cli import output
from smolit.cli.entry import run
from smolit.cli.options import JsonOption, UrlOption
from smolit.config import load_client_settings
from smolit.errors import ValidationError
from smolit.monitor.snapshot import ServerDown, fetch

app = typer.Typer(
    name="smolit.monitor",
    help="Watch a running Agent-NN server.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fetch_with_retries(url: str, retries: int, delay: float) -> dict[str, Any]:
    """A snapshot, trying ``retries`` more times ``delay`` seconds apart while down."""
    attempt = 0
    while True:
        try:
            return fetch(url)
        except ServerDown as exc:
            if attempt >= retries:
                raise ServerDown(f"{exc.message} (after {attempt + 1} attempts)") from exc
            output.error(f"{exc.message}; retrying in {delay:g} s")
            time.sleep(delay)
            attempt += 1


@app.command()
def monitor(
    url: UrlOption = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="seconds between refreshes")
    ] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="one snapshot, then exit")] = False,
    json: JsonOption = False,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="--once: tries more while the server is down")
    ] = 3,
) -> None:
    """Tasks per state, throughput, latency percentiles, agents and their success rates,
    cache hit rates and resources of the server at --url (or $SMOLIT_URL)."""
    target = load_client_settings(url, None).url
    if json and not once:
        raise ValidationError("--json needs --once")
    if once:
        snap = fetch_with_retries(target, retries, interval)
        if json:
            output.emit_json(snap)
        else:
            from rich.console import Console

            from smolit.monitor.dashboard import render

            Console().print(render(target, snap))
        return
    _live(target, interval)


def _live(url: str, interval: float) -> None:
    from rich.live import Live
    from rich.text import Text

    from smolit.monitor.dashboard import render

    last = None
    with Live(Text(f"connecting to {url} ..."), auto_refresh=False) as live:
        while True:
            try:
                last = fetch(url)
                live.update(render(url, last), refresh=True)
            except ServerDown as exc:
                note = f"{exc.message}; retrying every {interval:g} s"
                live.update(render(url, last, note) if last else Text(note), refresh=True)
            time.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    run(app, argv)
