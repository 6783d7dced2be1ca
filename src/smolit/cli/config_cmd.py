"""``smolit config show|validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from smolit.cli import output
from smolit.cli.options import ConfigOption, HomeOption, JsonOption
from smolit.config import load_settings, validate_config_file
from smolit.redact import redact_data

app = typer.Typer(help="Show and validate the configuration.", no_args_is_help=True)


@app.command("show")
def show(config: ConfigOption = None, home: HomeOption = None, json: JsonOption = False) -> None:
    """Print the effective configuration (file + environment + defaults), passwords masked."""
    settings = load_settings(config, home)
    data = settings.model_dump(mode="json", exclude={"config_file"})
    data["config_file"] = str(settings.config_file) if settings.config_file else None
    data = redact_data(data)  # passwords in storage, queue, cache.redis_url, any URL
    if json:
        output.emit_json(data)
    else:
        output.line(yaml.safe_dump(data, sort_keys=False).rstrip())


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="the YAML file to check")],
) -> None:
    """Check a configuration file; exit code 2 names each wrong key when it is invalid."""
    settings = validate_config_file(file)
    output.line(f"{file}: valid ({len(settings.agents)} agents)")
