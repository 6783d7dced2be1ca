"""Running a Typer app as a command: errors become one line on stderr and an exit code.

Shared by ``smolit`` and the ``python -m smolit.backup|cache|monitor`` operator commands.
"""

from __future__ import annotations

import sys

import typer

from smolit.cli import output
from smolit.cli.client import ClientError
from smolit.errors import ConfigError, SmolitError, ValidationError


def exit_code(exc: SmolitError) -> int:
    """2 for misuse (bad configuration or input, also when the server says so), else 1."""
    if isinstance(exc, ClientError):
        return 2 if exc.details.get("status") in (400, 422) else 1
    return 2 if isinstance(exc, ConfigError | ValidationError) else 1


def run(app: typer.Typer, argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except SmolitError as exc:
        output.error(exc.message)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # no traceback ever reaches a user
        output.error(f"unexpected error: {exc.__class__.__name__}: {exc}")
        sys.exit(1)
