"""``smolit doctor``: check configuration, database, Redis, model files and disk space."""

from __future__ import annotations

import typer

from smolit.cli import output
from smolit.cli.options import ConfigOption, HomeOption, JsonOption
from smolit.config import load_settings
from smolit.doctor import Finding, config_finding, diagnose
from smolit.errors import SmolitError

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def doctor(config: ConfigOption = None, home: HomeOption = None, json: JsonOption = False) -> None:
    """Check the installation; exit 1 when something is wrong, and say how to fix it."""
    try:
        settings = load_settings(config, home)
        findings = diagnose(settings)
    except SmolitError as exc:
        findings = [config_finding(config, exc)]
    if json:
        output.emit_json([finding.to_dict() for finding in findings])
    else:
        for finding in findings:
            report(finding)
    if any(finding.level == "fail" for finding in findings):
        raise typer.Exit(1)


def report(finding: Finding) -> None:
    output.line(f"{MARKS[finding.level]}  {finding.check:<13} {finding.message}")
    if finding.fix:
        output.line(f"      {'':<13} fix: {finding.fix}")
