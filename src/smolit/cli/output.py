"""The CLI's output layer: the only place that writes to the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from smolit.redact import redact_text

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def line(text: str = "") -> None:
    console.print(text, markup=False)


def error(message: str) -> None:
    message = redact_text(message)
    first = message.strip().splitlines()[0] if message.strip() else "error"
    errors.print(f"error: {first}", markup=False)


def table(columns: list[str], rows: list[list[str]]) -> None:
    grid = Table(*columns, show_lines=False)
    for row in rows:
        grid.add_row(*row)
    console.print(grid)
