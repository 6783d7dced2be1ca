"""The root ``smolit`` command. Errors become one line on stderr and an exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from smolit import __version__
from smolit.cli import (
    agent_cmd,
    config_cmd,
    doctor_cmd,
    knowledge_cmd,
    models_cmd,
    output,
    router_cmd,
    serve_cmd,
    task_cmd,
    token_cmd,
    worker_cmd,
)
from smolit.cli.entry import run

app = typer.Typer(
    name="smolit",
    help="Agent-NN: a multi-agent system with a learned neural router.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(task_cmd.app, name="task")
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(token_cmd.app, name="token")
app.add_typer(router_cmd.app, name="router")
app.add_typer(models_cmd.app, name="models")
app.add_typer(knowledge_cmd.app, name="knowledge")
app.command("serve")(serve_cmd.serve)
app.command("worker")(worker_cmd.worker)
app.command("doctor")(doctor_cmd.doctor)


def _version(value: bool) -> None:
    if value:
        output.line(f"smolit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
) -> None:
    """Agent-NN command line."""


def main(argv: list[str] | None = None) -> None:
    run(app, argv)
