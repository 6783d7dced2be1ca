"""``smolit token create``: issue an API token directly in the local database."""

from __future__ import annotations

from typing import Annotated

import typer

from smolit.cli import output
from smolit.cli.options import ConfigOption, HomeOption, JsonOption
from smolit.config import load_settings, process_environment
from smolit.security.atrest import open_database
from smolit.security.tokens import TokenService
from smolit.storage.private import private_home

app = typer.Typer(
    help="Manage API tokens (operator commands on the local database).", no_args_is_help=True
)


def _service(config: object, home: object) -> TokenService:
    settings = load_settings(config, home)  # type: ignore[arg-type]
    private_home(settings.home)
    database = open_database(settings, process_environment())
    database.migrate()
    return TokenService(database, settings.security.token_bytes)


@app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", help="who the token belongs to")],
    role: Annotated[str, typer.Option("--role", help="admin or user")] = "user",
    name: Annotated[str, typer.Option("--name", help="a label for the token")] = "default",
    config: ConfigOption = None,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    issued = _service(config, home).create(user, role, name)  # type: ignore[arg-type]
    if json:
        output.emit_json(
            {
                "id": issued.id,
                "user": issued.user,
                "role": issued.role,
                "name": issued.name,
                "token": issued.secret,
            }
        )
    else:
        output.line(issued.secret)


@app.command("list")
def list_tokens(
    config: ConfigOption = None, home: HomeOption = None, json: JsonOption = False
) -> None:
    """List tokens (never their secrets)."""
    rows = _service(config, home).list()
    data: list[dict[str, str | bool]] = [
        {
            "id": r.id,
            "user": r.user,
            "role": r.role,
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "revoked": r.revoked,
        }
        for r in rows
    ]
    if json:
        output.emit_json(data)
    else:
        output.table(
            ["id", "user", "role", "name", "revoked"],
            [[str(d[key]) for key in ("id", "user", "role", "name", "revoked")] for d in data],
        )


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="the token id")],
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Revoke a token by id."""
    _service(config, home).revoke(token_id)
    output.line(f"revoked {token_id}")
