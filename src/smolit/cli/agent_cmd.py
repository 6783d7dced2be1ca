"""``smolit agent list|show|add|remove``: agents on a running server."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from smolit.cli import output
from smolit.cli.client import call
from smolit.cli.options import JsonOption, TokenOption, UrlOption

app = typer.Typer(help="Manage the worker agents of a running server.", no_args_is_help=True)


@app.command("list")
def list_agents(url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """List agents and whether each can take work."""
    agents = call(url, token, "GET", "/agents")["agents"]
    if json:
        output.emit_json(agents)
        return
    output.table(
        ["name", "available", "model", "examples", "description"],
        [
            [
                a["name"],
                "yes" if a["available"] else f"no ({a['unavailable_reason']})",
                a["model"] or "(default)",
                str(len(a["examples"])),
                a["description"][:60],
            ]
            for a in agents
        ],
    )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="agent name")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show one agent as JSON."""
    output.emit_json(call(url, token, "GET", f"/agents/{name}"))


class ToolChoiceOption(StrEnum):
    auto = "auto"
    router = "router"
    model = "model"


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="lowercase name: letters, digits, - and _")],
    description: Annotated[str, typer.Option("--description", "-d", help="what it handles")],
    example: Annotated[
        list[str] | None, typer.Option("--example", "-e", help="an example task (repeatable)")
    ] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model name")] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", help="knowledge collection")
    ] = None,
    tool: Annotated[
        list[str] | None,
        typer.Option("--tool", "-t", help="a tool the agent may call (repeatable)"),
    ] = None,
    tool_choice: Annotated[
        ToolChoiceOption,
        typer.Option("--tool-choice", help="auto, router or model (docs/tools.md)"),
    ] = ToolChoiceOption.auto,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Add an agent; it is routable at once."""
    body: dict[str, Any] = {"name": name, "description": description, "examples": example or []}
    if system_prompt is not None:
        body["system_prompt"] = system_prompt
    if model is not None:
        body["model"] = model
    if collection is not None:
        body["knowledge_collection"] = collection
    if tool:
        body["tools"] = tool
    body["tool_choice"] = tool_choice.value
    agent = call(url, token, "POST", "/agents", json=body)
    if json:
        output.emit_json(agent)
    else:
        output.line(f"added agent {agent['name']}")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="agent name")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove an agent."""
    call(url, token, "DELETE", f"/agents/{name}")
    output.line(f"removed agent {name}")
