"""``TaskManager``: accepts tasks, persists them, and gets them run exactly once.

Embedded mode (``queue: local``): this process runs ``system.max_concurrent_tasks``
workers over an in-process priority queue, each handing ids to the ``TaskConsumer``.
Distributed mode (``queue: redis://...``): a server only stores tasks and hands their ids
to the remote queue; ``smolit worker`` processes run them through the same ``TaskConsumer``
(this manager's ``consumer``, fed by Celery). Either way the database is the source of
truth (``TaskStore``): at start every unfinished task is queued again, and the re-queue
job hands every task whose lease ran out (its message lost, its worker dead) to the queue
again, so an accepted task is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from smolit.agents.supervisor import Supervisor
from smolit.config import Settings
from smolit.errors import SmolitError, ValidationError
from smolit.periodic import repeat
from smolit.security.permissions import require_privilege
from smolit.security.tokens import Principal
from smolit.tasks.consumer import DATABASE_WAIT_SECONDS, TaskConsumer
from smolit.tasks.queues import LocalQueue, TaskQueue
from smolit.tasks.runner import TaskRunner
from smolit.tasks.states import PRIORITIES, TaskStatus
from smolit.tasks.store import MAX_LIST_LIMIT, NewTask, TaskStore, parse_priority
from smolit.tasks.view import TaskView

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["MAX_LIST_LIMIT", "SubmitOptions", "TaskManager", "validate_task_text"]

#: embedded mode: how long a queued task may sit before the re-queue job doubts its message
#: (``system.requeue_after`` overrides both)
EMBEDDED_REQUEUE_AFTER = 600.0
#: distributed mode: the same, for Celery messages
DISTRIBUTED_REQUEUE_AFTER = 120.0
REQUEUE_INTERVAL = 5.0
POLL_SECONDS = 0.25


def validate_task_text(text: Any, max_chars: int) -> str:
    if not isinstance(text, str):
        raise ValidationError("task text must be a string", details={"field": "text"})
    if not text.strip():
        raise ValidationError("task text is empty", details={"field": "text"})
    if len(text) > max_chars:
        raise ValidationError(
            f"task text is {len(text)} characters; the limit is {max_chars} "
            "(server.max_task_chars)",
            details={"field": "text", "limit": max_chars},
        )
    if "\x00" in text:
        raise ValidationError("task text contains a NUL character", details={"field": "text"})
    return text


@dataclass(frozen=True)
class SubmitOptions:
    priority: str = "normal"
    timeout: float | None = None
    idempotency_key: str | None = None
    request_id: str | None = None


def embedded_worker_id() -> str:
    """Stable across restarts of the embedded server on this host."""
    return f"embedded@{socket.gethostname()}"


class TaskManager:
    def __init__(
        self,
        store: TaskStore,
        supervisor: Supervisor,
        settings: Settings,
        queue: TaskQueue | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        """``queue`` None: embedded mode (this process runs the tasks); otherwise tasks
        go to ``queue`` and other processes run them. ``worker_id``: who claims the tasks
        this process runs (default: the embedded server of this host)."""
        self.store = store
        self._settings = settings
        self._system = settings.system
        self._max_chars = settings.server.max_task_chars
        self._remote = queue
        self.embedded = queue is None
        self._requeue_after = self._system.requeue_after or (
            EMBEDDED_REQUEUE_AFTER if self.embedded else DISTRIBUTED_REQUEUE_AFTER
        )
        self.runner = TaskRunner(
            store,
            supervisor,
            worker_id or embedded_worker_id(),
            lease=self._system.task_lease,
            backoff=self._system.retry_backoff,
            requeue_after=self._requeue_after,
        )
        self.consumer = TaskConsumer(
            self.runner,
            store,
            lambda: self.queue,
            database_wait=0.0 if self.embedded else DATABASE_WAIT_SECONDS,
        )
        self._local: LocalQueue | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._done: dict[str, asyncio.Event] = {}
        self._running = False
        #: reads for the API get threads of their own, so that they never queue behind
        #: the routing and model calls of running tasks (writes need no thread: the
        #: store's ``a*`` methods wait on the event loop)
        self._api_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smolit-api")

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def queue(self) -> TaskQueue:
        if self._remote is not None:
            return self._remote
        if self._local is None:
            raise SmolitError("the task manager is not running")
        return self._local

    async def start(self) -> int:
        """Start; in embedded mode queue every unfinished task again. Returns how many."""
        self._running = True
        self.consumer.stopping.clear()
        recovered = 0
        if self.embedded:
            self._local = LocalQueue()
            await asyncio.to_thread(self.store.release_claims, self.runner.worker)
            for task_id, priority, delay in await asyncio.to_thread(self.store.unfinished):
                self._done.setdefault(task_id, asyncio.Event())
                self._local.put(task_id, priority, delay=delay)
                recovered += 1
            self._loops = [
                asyncio.create_task(self._work(), name=f"task-worker-{i}")
                for i in range(self._system.max_concurrent_tasks)
            ]
            if recovered:
                logger.info("re-queued %d unfinished tasks", recovered)
            # one process: no deployment-wide job needed (see AgentNN's scheduler)
            self._loops.append(asyncio.create_task(self._requeue_loop(), name="task-requeue"))
        return recovered

    async def stop(self) -> None:
        self._running = False
        self.consumer.stopping.set()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        self._api_threads.shutdown(wait=False)
        self._api_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smolit-api")
        if self._local is not None:
            self._local.close()

    async def _requeue_loop(self) -> None:
        """Hand tasks whose lease ran out to the queue again (see ``TaskStore.due``).

        Embedded mode only; in the distributed mode the scheduler runs ``requeue_due``
        once per interval across the deployment.
        """
        await repeat(
            self.requeue_due, REQUEUE_INTERVAL, "re-queueing overdue tasks", wait_first=True
        )

    def requeue_due(self) -> int:
        """Hand every overdue task to the queue again; how many (blocking)."""
        sent: list[str] = []
        try:
            for task_id, priority in self.store.due():
                self.queue.put(task_id, priority)
                sent.append(task_id)
        except Exception as exc:  # the broker is down: the rest stay due for the next round
            logger.warning("re-queueing stopped after %d tasks: %s", len(sent), exc)
        self.store.touch_queued(sent, self._requeue_after)
        if sent:
            logger.info("re-queued %d overdue tasks", len(sent))
        return len(sent)

    # --- submit, read, cancel ---------------------------------------------------------

    async def submit(
        self, text: str, principal: Principal, options: SubmitOptions | None = None
    ) -> TaskView:
        view, _ = await self.submit_new(text, principal, options)
        return view

    async def submit_new(
        self, text: str, principal: Principal, options: SubmitOptions | None = None
    ) -> tuple[TaskView, bool]:
        """Store and queue a task; (view, created) — created is False when an idempotency
        key gave back an earlier identical submit."""
        if not self._running:
            raise SmolitError("the task manager is not running")
        options = options or SubmitOptions()
        if options.priority == "high":
            roles = self._settings.security.privileged_roles
            require_privilege(principal, roles, "priority 'high'")
        text = validate_task_text(text, self._max_chars)
        timeout = self._system.task_timeout if options.timeout is None else options.timeout
        if not 0 < timeout <= self._system.max_task_timeout:
            raise ValidationError(
                f"timeout must be > 0 and <= {self._system.max_task_timeout:g} s "
                "(system.max_task_timeout)",
                details={"field": "timeout"},
            )
        task = NewTask(
            text=text,
            submitted_by=principal.user,
            priority=parse_priority(options.priority),
            timeout=timeout,
            max_attempts=self._system.max_attempts,
            idempotency_key=options.idempotency_key,
            request_id=options.request_id,
        )
        view, created = await self.store.insert(task, self._requeue_after)
        if created:
            if self._local is not None:  # in-process: put on the loop, no thread needed
                self._done[view.id] = asyncio.Event()
                self._local.put(view.id, PRIORITIES[view.priority])
                return view, created
            try:
                await asyncio.to_thread(self.queue.put, view.id, PRIORITIES[view.priority])
            except Exception as exc:  # stored: the re-queue job sends it when the queue is back
                logger.warning("task %s stored but not queued yet: %s", view.id, exc)
                await asyncio.to_thread(self.store.touch_queued, [view.id], 0.0)
        return view, created

    async def get(self, task_id: str, principal: Principal, wait: float = 0) -> TaskView:
        """The task, after waiting up to ``wait`` seconds for it to finish."""
        view = await self._api(self.store.visible, task_id, principal)
        deadline = time.monotonic() + wait
        while not view.finished and (remaining := deadline - time.monotonic()) > 0:
            event = self._done.get(task_id)
            if event is None:  # run by another process: poll
                await asyncio.sleep(min(POLL_SECONDS, remaining))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            view = await self._api(self.store.visible, task_id, principal)
        return view

    async def page(
        self,
        principal: Principal,
        *,
        limit: int = 50,
        status: str | None = None,
        agent: str | None = None,
        priority: str | None = None,
        before: str | None = None,
    ) -> tuple[list[TaskView], str | None]:
        """The tasks ``principal`` may see, newest first; and the next page's cursor."""
        query = partial(
            self.store.page,
            principal,
            limit=limit,
            status=status,
            agent=agent,
            priority=priority,
            before=before,
        )
        return await self._api(query)

    async def _api(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._api_threads, function, *args)

    async def cancel(self, task_id: str, principal: Principal) -> TaskView:
        """Cancel a task; a running one stops at once here, or at its worker's heartbeat."""
        view = await asyncio.to_thread(self.store.cancel, task_id, principal)
        if not view.finished and self.runner.cancel_local(task_id):
            return await self.get(task_id, principal, wait=5)
        return view

    async def events(
        self, task_id: str, principal: Principal, wait: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The task's state changes as they happen, until it finishes or ``wait`` ends."""
        await asyncio.to_thread(self.store.visible, task_id, principal)
        deadline = time.monotonic() + wait
        after = 0
        while True:
            for event in await asyncio.to_thread(self.store.events, task_id, after):
                after = event["id"]
                yield event
                if TaskStatus(event["status"]).finished:
                    return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(POLL_SECONDS)

    # --- execution (embedded mode) ------------------------------------------------------

    async def _work(self) -> None:
        assert self._local is not None
        while True:
            task_id = await self._local.get()
            try:
                outcome = await self.consumer.consume(task_id)
                if outcome.retry_in is not None:  # back on the queue
                    continue
                if outcome.ran and outcome.status is not None and outcome.status.finished:
                    self._notify(task_id)
                else:  # not claimable (finished or cancelled meanwhile): look
                    view = await asyncio.to_thread(self.store.load, task_id)
                    if view is not None and view.finished:
                        self._notify(task_id)
            except Exception:  # a worker must survive anything one task does
                logger.exception("task %s crashed its worker", task_id)
            finally:
                self._local.task_done()

    def _notify(self, task_id: str) -> None:
        event = self._done.pop(task_id, None)
        if event is not None:
            event.set()
