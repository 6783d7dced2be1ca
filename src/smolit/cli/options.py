"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="configuration file (default: $SMOLIT_HOME/smolit.yaml)"),
]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="data directory (default: $SMOLIT_HOME or ./.smolit)"),
]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="server URL (default: $SMOLIT_URL or local)")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="API token (default: $SMOLIT_TOKEN)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
