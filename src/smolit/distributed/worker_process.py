"""``smolit worker``: runs tasks the servers put on the Celery queue.

One worker process holds one ``AgentNN`` (models, router, knowledge), started on an asyncio
event loop in a background thread by the same ``AgentNN.start`` the API server uses.
Celery's thread pool (``--concurrency N``) hands task ids to that loop, where the system's
``TaskConsumer`` claims, runs and redelivers them exactly as the embedded server's workers
do. The heartbeat, the change watcher and the deployment-wide periodic jobs run there too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery.signals import worker_shutting_down

from smolit.config import Settings
from smolit.distributed.broker_loss import CONSUMER_PATH
from smolit.distributed.celery_app import RUN_TASK, TASK_QUEUE
from smolit.distributed.celery_queue import CeleryQueue, priority_from_celery
from smolit.errors import ConfigError
from smolit.metrics import MetricsServer, system_collectors
from smolit.system import AgentNN

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TaskWorker:
    def __init__(
        self,
        settings: Settings,
        concurrency: int | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.system.max_concurrent_tasks
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.system = AgentNN(settings, worker_concurrency=self.concurrency)
        if not isinstance(self.system.queue, CeleryQueue):
            raise ConfigError("smolit worker consumes a Celery queue: set queue: redis://...")
        self.celery = self.system.queue.app
        # keep the root handler configure_logging installed (format, request ids)
        self.celery.conf.worker_hijack_root_logger = False
        # survive a lost broker connection (see smolit.distributed.broker_loss)
        self.celery.conf.worker_consumer = CONSUMER_PATH
        self.consumer = self.system.tasks.consumer
        self.worker_id = self.system.tasks.runner.worker
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="worker-loop")
        self._register_task()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _register_task(self) -> None:
        worker = self

        @self.celery.task(name=RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
        def run_task(celery_task: Any, task_id: str) -> None:
            delivery = celery_task.request.delivery_info or {}
            worker.run_delivered(task_id, delivery.get("priority"))

    def run_delivered(self, task_id: str, celery_priority: int | None) -> None:
        """Run one delivered task id in this Celery thread's turn; while the database is
        unreachable the message waits here, unacknowledged (see ``TaskConsumer``)."""
        self._call(self.consumer.consume(task_id, priority_from_celery(celery_priority)))

    def run(self) -> None:
        """Start the system, then consume the queue until stopped (Ctrl-C, SIGTERM)."""
        self.system.open()  # fails here, before any thread starts, when the broker is down
        metrics = self._serve_metrics()
        self._thread.start()
        self._call(self.system.start())
        worker_shutting_down.connect(self._on_shutdown, weak=False)
        try:
            self.celery.worker_main(
                [
                    "worker",
                    f"--concurrency={self.concurrency}",
                    "--pool=threads",
                    f"--queues={TASK_QUEUE}",
                    f"--hostname={self.worker_id}",
                    "--without-gossip",
                    "--without-mingle",
                    f"--loglevel={self.settings.system.log_level}",
                ]
            )
        finally:
            worker_shutting_down.disconnect(self._on_shutdown)
            if metrics is not None:
                metrics.close()
            self._call(self.system.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def _on_shutdown(self, **_kwargs: Any) -> None:
        """Tasks waiting for the database stop waiting: their messages go back."""
        self._loop.call_soon_threadsafe(self.consumer.stopping.set)

    def _serve_metrics(self) -> MetricsServer | None:
        """This worker's own ``/metrics`` (``--metrics-port``): Prometheus scrapes each."""
        if self.metrics_port is None:
            return None
        server = MetricsServer(system_collectors(self.system), self.metrics_port, self.metrics_host)
        logger.info("worker metrics at http://%s:%d/metrics", server.host, server.port)
        return server
