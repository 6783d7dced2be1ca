"""``smolit worker``: runs tasks the servers put on the Celery queue.

One worker process holds one ``AgentNN`` (models, router, knowledge) and one asyncio event
loop in a background thread; Celery's thread pool (``--concurrency N``) hands task ids to
that loop, where ``TaskRunner`` claims and runs them exactly as the embedded server does.
The worker advertises itself (agents it can serve, tasks running) every few seconds and
takes part in the deployment-wide periodic jobs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery.signals import worker_shutting_down

from smolit.config import Settings
from smolit.distributed.celery_app import RUN_TASK, TASK_QUEUE, check_broker, create_celery
from smolit.distributed.consumer import CONSUMER_PATH
from smolit.distributed.workers import WorkerRegistry
from smolit.metrics import MetricsServer, system_collectors
from smolit.system import AgentNN
from smolit.tasks.manager import DISTRIBUTED_REQUEUE_AFTER
from smolit.tasks.queues import CeleryQueue, priority_from_celery
from smolit.tasks.runner import TaskRunner

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
#: how long a delivered task waits in place for an unreachable database before its
#: message is sent again with a delay
DATABASE_WAIT_SECONDS = 60.0
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
        self.celery = create_celery(settings)
        # keep the root handler configure_logging installed (format, request ids)
        self.celery.conf.worker_hijack_root_logger = False
        # survive a lost broker connection (see smolit.distributed.consumer)
        self.celery.conf.worker_consumer = CONSUMER_PATH
        self.system = AgentNN(settings, queue=CeleryQueue(self.celery))
        self.worker_id = WorkerRegistry.new_id("worker")
        self.runner = TaskRunner(
            self.system.tasks.store,
            self.system.supervisor,
            self.worker_id,
            lease=settings.system.task_lease,
            backoff=settings.system.retry_backoff,
            requeue_after=DISTRIBUTED_REQUEUE_AFTER,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="worker-loop")
        self._background: list[asyncio.Task[None]] = []
        #: set when the worker begins to shut down: tasks waiting for the database stop
        self._stopping = threading.Event()
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
        """Run one delivered task id; send it again when it must be retried later.

        While the database is unreachable the message stays here, unacknowledged, and the
        run is tried again in place for up to ``DATABASE_WAIT_SECONDS``: with prefetch 1
        the rest of the backlog stays in the broker's queue instead of cycling through
        this worker as delayed messages (which a broker outage would then strand).
        """
        waited = 0.0
        while True:
            outcome = self._call(self.runner.run(task_id))
            if outcome.retry_in is None:
                return
            if (
                outcome.database_down
                and waited < DATABASE_WAIT_SECONDS
                and not self._stopping.wait(outcome.retry_in)
            ):
                waited += outcome.retry_in
                continue
            self.send_again(task_id, celery_priority, outcome.retry_in)
            return

    def send_again(self, task_id: str, celery_priority: int | None, delay: float) -> None:
        """Put a task id back on the queue after ``delay`` s, with its message's priority.

        Needs only the broker: it runs when the database is gone (the task could not be
        claimed, or lost its database mid-run). If the broker is gone too, the task stays
        due in the database and the re-queue job sends it once both are back.
        """
        priority = priority_from_celery(celery_priority)
        try:
            self.system.tasks.queue.put(task_id, priority, delay=delay)
        except Exception as exc:  # kombu raises many kinds of connection errors
            logger.warning(
                "task %s: cannot send it again (%s); the re-queue job will", task_id, exc
            )

    def run(self) -> None:
        """Prepare the system, then consume the queue until stopped (Ctrl-C, SIGTERM)."""
        check_broker(self.celery, self.settings.queue)
        self.system.prepare()
        metrics = self._serve_metrics()
        self._thread.start()
        self._call(self._start_background())
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
            self._stopping.set()
            worker_shutting_down.disconnect(self._on_shutdown)
            self._call(self._stop_background())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            try:
                self.system.workers.remove(self.worker_id)
            except Exception:  # the database may be gone at shutdown
                logger.warning("cannot remove worker %s from the registry", self.worker_id)
            if metrics is not None:
                metrics.close()
            self.system.close()

    def _on_shutdown(self, **_kwargs: Any) -> None:
        self._stopping.set()

    def _serve_metrics(self) -> MetricsServer | None:
        """This worker's own ``/metrics`` (``--metrics-port``): Prometheus scrapes each."""
        if self.metrics_port is None:
            return None
        collectors = system_collectors(self.system, lambda: self.runner.finished)
        server = MetricsServer(collectors, self.metrics_port, self.metrics_host)
        logger.info("worker metrics at http://%s:%d/metrics", server.host, server.port)
        return server

    async def _start_background(self) -> None:
        self._background = [asyncio.create_task(self._heartbeat(), name="worker-heartbeat")]
        self.system.start_background()

    async def _stop_background(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.system.stop_background()

    async def _heartbeat(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.advertise)
            except Exception:  # the database may be briefly gone
                logger.warning("worker heartbeat failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def advertise(self) -> None:
        reasons = self.system.supervisor.local_availability()
        agents = sorted(name for name, reason in reasons.items() if reason is None)
        self.system.workers.heartbeat(
            self.worker_id, "worker", agents, self.concurrency, len(self.runner.running)
        )
