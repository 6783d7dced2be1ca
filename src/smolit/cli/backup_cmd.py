"""``python -m smolit.backup create | list | verify ID | restore ID [--force] | encrypt``."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from smolit.backup.manager import BackupManager
from smolit.cli import output
from smolit.cli.entry import run
from smolit.cli.options import ConfigOption, HomeOption, JsonOption
from smolit.config import load_settings, process_environment

app = typer.Typer(
    name="smolit.backup",
    help="Back up and restore an Agent-NN data directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

IdArgument = Annotated[str, typer.Argument(help="a backup id (see `list`)")]
ForceOption = Annotated[
    bool, typer.Option("--force", help="stop a server or worker running on this data first")
]


def _manager(config: ConfigOption, home: HomeOption) -> BackupManager:
    return BackupManager(load_settings(config, home), process_environment())


def _size(count: int) -> str:
    return f"{count / 1_048_576:.1f} MB"


@app.command()
def create(config: ConfigOption = None, home: HomeOption = None, json: JsonOption = False) -> None:
    """Snapshot the database, knowledge indexes, model files and configuration."""
    started = time.perf_counter()
    info = _manager(config, home).create()
    seconds = round(time.perf_counter() - started, 2)
    if json:
        output.emit_json({**info.to_dict(), "seconds": seconds})
        return
    sealed = ", encrypted" if info.encrypted else ""
    output.line(f"created {info.id} ({_size(info.size_bytes)}{sealed}) in {seconds} s: {info.path}")


@app.command("list")
def list_backups(
    config: ConfigOption = None, home: HomeOption = None, json: JsonOption = False
) -> None:
    """The backups in the data directory, newest first."""
    backups = _manager(config, home).list()
    if json:
        output.emit_json([b.to_dict() for b in backups])
        return
    if not backups:
        output.line("no backups yet: python -m smolit.backup create")
        return
    output.table(
        ["id", "size", "created", "encrypted"],
        [
            [b.id, _size(b.size_bytes), b.created_at, "yes" if b.encrypted else "no"]
            for b in backups
        ],
    )


@app.command()
def verify(
    backup_id: IdArgument,
    config: ConfigOption = None,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Decrypt, unpack and check every checksum of a backup, without restoring it."""
    report = _manager(config, home).verify(backup_id)
    if json:
        output.emit_json(report)
        return
    output.line(f"{backup_id}: ok ({report['files']} files, {report['database']} database)")


@app.command()
def restore(
    backup_id: IdArgument,
    config: ConfigOption = None,
    home: HomeOption = None,
    force: ForceOption = False,
    json: JsonOption = False,
) -> None:
    """Check a backup in full, then put its data back in the data directory."""
    started = time.perf_counter()
    report = _manager(config, home).restore(backup_id, force=force)
    seconds = round(time.perf_counter() - started, 2)
    if json:
        output.emit_json({**report, "seconds": seconds})
        return
    output.line(f"restored {backup_id} in {seconds} s:")
    for path in report["restored"]:
        output.line(f"  {path}")


@app.command()
def encrypt(
    config: ConfigOption = None,
    home: HomeOption = None,
    force: ForceOption = False,
    json: JsonOption = False,
) -> None:
    """Encrypt existing data in place with the configured at-rest key
    (security.encryption_key_env or security.encryption_key_file)."""
    changed = _manager(config, home).encrypt(force=force)
    if json:
        output.emit_json({"changed": changed})
        return
    output.line(f"encrypted {len(changed)} files" + (":" if changed else ""))
    for path in changed:
        output.line(f"  {path}")


def main(argv: list[str] | None = None) -> None:
    run(app, argv)
