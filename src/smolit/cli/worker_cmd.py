"""``smolit worker``: run tasks from the distributed queue (Celery on Redis)."""

from __future__ import annotations

from typing import Annotated

import typer

from smolit.cli.options import ConfigOption, HomeOption
from smolit.config import load_settings
from smolit.errors import ConfigError
from smolit.logs import configure_logging


def worker(
    config: ConfigOption = None,
    home: HomeOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, max=1024, help="tasks at once (default: max_concurrent_tasks)"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=0, max=65535, help="serve this worker's /metrics on this port"
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            help="address /metrics listens on; it has no token, so only this machine by "
            "default (0.0.0.0: every interface)",
        ),
    ] = "127.0.0.1",
) -> None:
    """Run tasks that servers queue (needs queue: redis://... and a shared storage URL)."""
    from smolit.distributed.worker_process import TaskWorker

    settings = load_settings(config, home)
    configure_logging(settings.system.log_level, settings.system.log_format)
    if settings.queue == "local":
        raise ConfigError(
            "smolit worker needs the distributed mode: set queue: redis://... and "
            "storage: postgresql://... (or SMOLIT_QUEUE / SMOLIT_STORAGE)"
        )
    import torch

    torch.set_num_threads(1)
    TaskWorker(settings, concurrency, metrics_port, metrics_host).run()
