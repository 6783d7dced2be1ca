"""``smolit serve``: run the API server (``make run`` calls it with ``--demo``)."""

from __future__ import annotations

import gc
import logging
import shutil
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smolit.cli import output
from smolit.cli.options import ConfigOption, HomeOption
from smolit.config import CONFIG_FILE_NAME, Settings, load_settings, resolve_config_path
from smolit.errors import SmolitError
from smolit.logs import configure_logging
from smolit.security.tls import server_tls
from smolit.security.tokens import ADMIN_TOKEN_FILE, save_admin_token
from smolit.storage.private import make_tree_private, private_home

if TYPE_CHECKING:
    from smolit.system import AgentNN

logger = logging.getLogger(__name__)


def install_demo(home: Path) -> bool:
    """Copy the demo configuration and its documents into ``home`` unless one exists."""
    target = home / CONFIG_FILE_NAME
    if target.exists():
        return False
    private_home(home)
    demo = resources.files("smolit") / "demo"
    with resources.as_file(demo) as demo_dir:
        shutil.copytree(demo_dir / "knowledge", home / "knowledge", dirs_exist_ok=True)
        shutil.copyfile(demo_dir / CONFIG_FILE_NAME, target)
    make_tree_private(home / "knowledge")
    target.chmod(0o600)
    return True


def smolit_command() -> str:
    """How to call the CLI from here: the venv's script, relative when it is below cwd."""
    script = Path(sys.executable).parent / "smolit"
    if not script.exists():
        return "smolit"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def warm_default_model(system: AgentNN) -> None:
    """Load the default model in the background so the first task does not wait for it."""
    try:
        system.models.preload(None)
    except SmolitError as exc:
        logger.warning("default model not preloaded: %s", exc.message)
    except Exception:
        logger.exception("default model not preloaded")


def print_banner(
    settings: Settings,
    url: str,
    token: str | None,
    token_file: Path | None = None,
    terminal: bool = True,
) -> None:
    """What the server tells its operator at start. A new admin token is shown only on a
    terminal: otherwise (a container, a service: logs are kept) only ``token_file``, the
    0600 file it was written to, is named."""
    shown = token if token and terminal else "$SMOLIT_TOKEN"
    if token and not terminal and token_file is not None:
        shown = f"$(cat {token_file})"
    output.line("")
    output.line(f"Agent-NN is running at {url}   (API docs: {url}/docs)")
    output.line(f"data directory: {settings.home.resolve()}")
    if token and terminal:
        output.line(f"admin token (shown once, stored hashed): {token}")
        if token_file is not None:
            output.line(f"  also saved in {token_file} (readable by you only)")
    elif token and token_file is not None:
        output.line(f"admin token: written to {token_file} (readable by this user only)")
    else:
        output.line(
            "admin token: created at first start; issue another with "
            f"`{smolit_command()} token create --user admin --role admin`"
        )
    output.line("")
    output.line("Try:")
    output.line(
        f'  curl -s -X POST {url}/tasks -H "Authorization: Bearer {shown}" '
        "-H 'Content-Type: application/json' "
        '-d \'{"text": "How long should I boil an egg for a runny yolk?"}\''
    )
    output.line(
        f"  SMOLIT_URL={url} SMOLIT_TOKEN={shown} {smolit_command()} task submit "
        '"How long should I boil an egg for a runny yolk?" --wait'
    )
    output.line("")


def serve(
    config: ConfigOption = None,
    home: HomeOption = None,
    host: Annotated[str | None, typer.Option("--host", help="default: server.host")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="default: server.port")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="install the demo agents on first start")
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (default: server.tls_cert)"),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", help="PEM private key of --tls-cert (default: server.tls_key)"),
    ] = None,
) -> None:
    """Start the API server on the configured host and port."""
    import uvicorn

    from smolit.api import create_app
    from smolit.system import AgentNN

    if demo and config is None:
        home_path, config_path = resolve_config_path(None, home)
        if config_path is None and install_demo(home_path):
            output.line(f"installed the demo configuration in {home_path}")
    settings = load_settings(config, home)
    configure_logging(settings.system.log_level, settings.system.log_format)
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    tls = server_tls(settings, tls_cert, tls_key)  # checked before the slow start-up
    import torch

    # per-request inference is fastest on one thread; more only oversubscribe the cores
    torch.set_num_threads(1)
    output.line("preparing: database, encoder, agents and their knowledge ...")
    system = AgentNN(settings)
    system.open()  # the distributed mode: says now if the queue is down
    issued = system.tokens.ensure_admin()
    token_file = (
        save_admin_token(settings.home / ADMIN_TOKEN_FILE, issued.secret) if issued else None
    )
    threading.Thread(
        target=warm_default_model, args=(system,), name="model-preload", daemon=True
    ).start()
    scheme = "https" if tls else "http"
    print_banner(
        settings,
        f"{scheme}://{host}:{port}",
        issued.secret if issued else None,
        token_file,
        terminal=sys.stdout.isatty(),
    )
    # what start-up loaded (encoder, router, libraries) lives as long as the server: out
    # of the collector's full passes, which otherwise pause every request for 100-250 ms
    gc.freeze()
    uvicorn.run(
        create_app(system),
        host=host,
        port=port,
        log_level=settings.system.log_level.lower(),
        log_config=None,  # uvicorn's records go through the handler configured above
        timeout_graceful_shutdown=10,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
