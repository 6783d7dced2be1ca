"""The Celery application of the distributed mode: Redis broker, no result backend.

Results, task state and everything else live in the database; Celery only carries task
ids, as JSON: pickle is neither sent nor accepted, so a message written into Redis by
someone else can never run code in a worker. ``acks_late`` with ``reject_on_worker_lost``
returns a message to the queue when the process running it dies; the re-queue job
(``TaskManager.requeue_due``) covers the rest (a whole worker SIGKILLed, a message lost with
the broker), and the database claim makes a task run once even when its id is delivered
twice.
"""

from __future__ import annotations

import ssl

from celery import Celery

from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.redact import redact_url

TASK_QUEUE = "smolit"
#: Redis lists per priority step, served lowest number first
CELERY_PRIORITY_STEPS = [0, 3, 6, 9]
RUN_TASK = "smolit.run_task"


def create_celery(settings: Settings) -> Celery:
    if settings.queue == "local":
        raise ConfigError("the distributed mode needs queue: redis://... in the configuration")
    app = Celery("smolit", broker=settings.queue, set_as_current=False)
    if settings.queue.startswith("rediss://"):
        # kombu's default for rediss:// is not to verify the server's certificate; the
        # URL's own ssl_* parameters (ssl_ca_certs=..., ssl_cert_reqs=...) replace this
        app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    app.conf.update(
        task_default_queue=TASK_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        # JSON only, in and out: a pickled message is refused before it is decoded
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "priority_steps": CELERY_PRIORITY_STEPS,
            "sep": ":",
            "queue_order_strategy": "priority",
            # unacknowledged messages of a lost worker come back after this; the database
            # lease (system.task_lease) usually brings the task back sooner
            "visibility_timeout": max(300, int(settings.system.task_timeout * 2)),
        },
    )
    return app


def check_broker(app: Celery, url: str, timeout: float = 5.0) -> None:
    """``ConfigError`` naming the URL (without its password) when the broker is down."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu raises many kinds of connection errors
        raise ConfigError(
            f"cannot reach the task queue at {redact_url(url)}: {type(exc).__name__}: {exc}",
            details={"queue": redact_url(url)},
        ) from exc
