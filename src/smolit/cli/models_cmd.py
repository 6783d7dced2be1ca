"""``smolit models ...``: the model registry and pool of a running server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from smolit.cli import output
from smolit.cli.client import call
from smolit.cli.options import JsonOption, TokenOption, UrlOption
from smolit.errors import ValidationError

app = typer.Typer(
    help="Manage the model registry (versions, aliases) and the loaded pool of a running server.",
    no_args_is_help=True,
)

AliasOption = Annotated[
    str | None, typer.Option("--alias", help="promote the new version to this alias")
]
NotesOption = Annotated[str | None, typer.Option("--notes", help="free text kept with it")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="another definition field as KEY=VALUE (repeatable), e.g. max_new_tokens=128",
    ),
]


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as YAML scalars (numbers, booleans, text)."""
    fields: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            fields[key.strip()] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ValidationError(f"--set {pair!r}: cannot read the value: {exc}") from exc
    return fields


def _mb(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


@app.command("list")
def list_models(url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """List models: versions, aliases and the version a plain name serves."""
    models = call(url, token, "GET", "/models")["models"]
    if json:
        output.emit_json(models)
        return
    output.table(
        ["name", "kind", "backend", "versions", "serves", "aliases"],
        [
            [
                m["name"],
                m["kind"],
                m["backend"] or "-",
                ",".join(str(v) for v in m["versions"]) or "(config)",
                "-" if m["serves"] is None else str(m["serves"]),
                " ".join(f"{a}={v}" for a, v in m["aliases"].items()) or "-",
            ]
            for m in models
        ],
    )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="model name")],
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Show a model's versions with their performance, and its aliases."""
    detail = call(url, token, "GET", f"/models/{name}")
    if json:
        output.emit_json(detail)
        return
    output.line(f"model {detail['name']}")
    if not detail["registered"]:
        output.line(f"  not in the registry; backend {detail['backend']}")
        output.emit_json(detail["performance"])
        return
    aliases = " ".join(f"{a}={v}" for a, v in detail["aliases"].items()) or "none"
    output.line(f"  kind {detail['kind']}, aliases: {aliases}")
    for version in detail["versions"]:
        for text in version_lines(version):
            output.line(text)


def version_lines(v: dict[str, Any]) -> list[str]:
    """Two lines per version: what it is, and how it performs."""
    head = (
        f"  v{v['version']}  {v.get('backend') or v['kind']}  {v['size_bytes'] / 1e6:.1f} MB"
        f"  sha256 {(v['checksum'] or '-')[:12]}"
        f"  {'loaded' if v.get('loaded') else 'not loaded'}"
        f"  by {v['created_by'] or '-'} {v['created_at'][:16]}"
    )
    lines = [head]
    if v.get("notes"):
        lines.append(f"      notes: {v['notes']}")
    perf = v.get("performance")
    if perf:
        rate = perf.get("task_success_rate")
        speed = perf.get("tokens_per_s")
        lines.append(
            f"      requests {perf['requests']}  errors {perf['errors']}"
            f"  p50 {_ms(perf['latency_ms_p50'])} ms  p95 {_ms(perf['latency_ms_p95'])} ms"
            f"  {'-' if speed is None else f'{speed:.1f}'} tok/s"
            f"  ttft {_ms(perf['first_token_ms_p50'])} ms"
            f"  success {'-' if rate is None else f'{rate:.0%}'} ({perf['rated_tasks']} rated)"
            f"  cost {perf['cost']:g}"
        )
    return lines


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="model name")],
    backend: Annotated[str, typer.Option("--backend", help="transformers, openai, llamacpp...")],
    path: Annotated[
        str | None, typer.Option("--path", help="a .gguf, a directory, 'bundled' or an HF id")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible API root")
    ] = None,
    remote_model: Annotated[
        str | None, typer.Option("--model", help="the model name the remote API expects")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="environment variable with the key")
    ] = None,
    settings: SetOption = None,
    alias: AliasOption = None,
    notes: NotesOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Register a new version that refers to files or an API where they are."""
    definition: dict[str, Any] = {"backend": backend, **parse_settings(settings)}
    for key, value in (
        ("path", path),
        ("base_url", base_url),
        ("model", remote_model),
        ("api_key_env", api_key_env),
    ):
        if value is not None:
            definition[key] = value
    body = {"name": name, "definition": definition, "alias": alias, "notes": notes}
    _report(call(url, token, "POST", "/models", json=body), json, "registered")


@app.command("import")
def import_model(
    path: Annotated[Path, typer.Argument(help="a .gguf file or a model directory")],
    name: Annotated[
        str | None, typer.Option("--name", help="model name (default: from the file name)")
    ] = None,
    backend: Annotated[str, typer.Option("--backend")] = "transformers",
    settings: SetOption = None,
    alias: AliasOption = None,
    notes: NotesOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Copy a model file or directory into the registry as a new version (checked first)."""
    body = {
        "path": str(path.expanduser().resolve()),
        "name": name or default_name(path),
        "backend": backend,
        "definition": parse_settings(settings),
        "alias": alias,
        "notes": notes,
    }
    _report(call(url, token, "POST", "/models/import", json=body, timeout=600), json, "imported")


def default_name(path: Path) -> str:
    """A registry name from a file name: ``SmolLM2-135M.Q4_1.gguf`` -> ``smollm2-135m``."""
    stem = path.name.split(".")[0].lower()
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-_")
    if not cleaned:
        raise ValidationError(f"cannot make a model name from {path.name!r}: give --name")
    return cleaned[:64]


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[int, typer.Argument(help="version number", min=1)],
    alias: Annotated[str, typer.Option("--alias")] = "production",
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Point NAME@ALIAS at VERSION; agents using it switch without a restart."""
    body = {"version": version, "alias": alias}
    _alias_moved(call(url, token, "POST", f"/models/{name}/promote", json=body), alias, json)


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="model name")],
    alias: Annotated[str, typer.Option("--alias")] = "production",
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Point NAME@ALIAS back at the version it pointed at before its last move."""
    body = {"alias": alias}
    _alias_moved(call(url, token, "POST", f"/models/{name}/rollback", json=body), alias, json)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="model name")],
    version: Annotated[int, typer.Argument(help="version number", min=1)],
    force: Annotated[
        bool, typer.Option("--force", help="also drop aliases that point at it")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove one version and the files the registry holds for it."""
    result = call(
        url, token, "DELETE", f"/models/{name}/versions/{version}", params={"force": force}
    )
    output.line(f"removed {result['removed']}")


@app.command("loaded")
def loaded(url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Show the models in memory now and the pool's memory budget."""
    pool = call(url, token, "GET", "/models/loaded")
    if json:
        output.emit_json(pool)
        return
    output.table(
        ["model", "backend", "MB", "in use", "uses", "idle s", "load s"],
        [
            [
                m["model"],
                m["backend"],
                _mb(m["memory_mb"]),
                str(m["in_use"]),
                str(m["uses"]),
                f"{m['idle_seconds']:.0f}",
                f"{m['load_seconds']:.1f}",
            ]
            for m in pool["models"]
        ],
    )
    output.line(
        f"budget {pool['max_memory_mb']:.0f} MB, used {pool['used_mb']:.0f} MB, "
        f"free {pool['free_mb']:.0f} MB"
    )


@app.command("unload")
def unload(
    key: Annotated[str, typer.Argument(help="a loaded model, as `models loaded` names it")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Unload a model now; it loads again on its next use."""
    call(url, token, "DELETE", f"/models/loaded/{key}")
    output.line(f"unloaded {key}")


def _alias_moved(version: dict[str, Any], alias: str, json: bool) -> None:
    if json:
        output.emit_json(version)
    else:
        output.line(f"{version['name']}@{alias} -> version {version['version']}")


def _report(version: dict[str, Any], json: bool, verb: str) -> None:
    if json:
        output.emit_json(version)
        return
    output.line(
        f"{verb} {version['key']} ({version.get('backend') or version['kind']}, "
        f"{version['size_bytes'] / 1e6:.1f} MB)"
    )
