"""``TaskRunner``: runs one task under a claim, in any process (server or worker).

claim -> route and run the agent (with the task's timeout) while a heartbeat renews the
lease and watches for a cancel -> store the outcome under the claim. Transient failures
(a model or agent unavailable, the database briefly gone) go back to the queue with a
backoff until the task's attempts are used up; everything else is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from smolit.agents.supervisor import Supervisor, SupervisorOutcome
from smolit.errors import AgentUnavailableError, ModelError, SmolitError, StorageError
from smolit.logs import request_id_var
from smolit.routing.decision import RouteDecision
from smolit.tasks.states import TaskStatus
from smolit.tasks.store import Claim, TaskStore
from smolit.tasks.tool_calls import ToolCallLog

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (ModelError, AgentUnavailableError, StorageError)


@dataclass(frozen=True)
class RunOutcome:
    """What became of one delivery of a task id."""

    ran: bool
    status: TaskStatus | None = None
    #: run it again after this many seconds (a transient failure, or the database down)
    retry_in: float | None = None
    #: the retry is for the database: unreachable, so nothing could be claimed or stored
    database_down: bool = False


class _Stop(Exception):
    """The heartbeat found the task cancelled, or its claim lost."""


class TaskRunner:
    def __init__(
        self,
        store: TaskStore,
        supervisor: Supervisor,
        worker: str,
        *,
        lease: float = 30.0,
        backoff: float = 1.0,
        requeue_after: float = 600.0,
    ) -> None:
        self.store = store
        self.tool_calls = ToolCallLog(store.database, store.clock)
        self.worker = worker
        self._supervisor = supervisor
        self._lease = lease
        self._backoff = backoff
        self._requeue_after = requeue_after
        self.running: dict[str, asyncio.Task[SupervisorOutcome]] = {}
        #: runs this process took to a final state (for tasks per CPU-second)
        self.finished = 0

    async def run(self, task_id: str) -> RunOutcome:
        try:
            claim = await self.store.claim(task_id, self.worker, self._lease)
        except SQLAlchemyError as exc:
            logger.warning("cannot claim task %s (database: %s); will retry", task_id, exc)
            return RunOutcome(False, retry_in=max(1.0, self._backoff), database_down=True)
        if claim is None:
            return RunOutcome(False)
        # the task's log lines carry the id of the request that submitted it
        context = request_id_var.set(claim.request_id)
        try:
            outcome = await self._run_claimed(claim)
            if outcome.status is not None:
                logger.info(
                    "task %s: %s (attempt %d)", task_id, outcome.status.value, claim.attempt
                )
        except SQLAlchemyError as exc:  # the database went away mid-task: the lease expires
            logger.warning("task %s: database lost (%s); it will run again", task_id, exc)
            return RunOutcome(True, retry_in=self._lease, database_down=True)
        finally:
            request_id_var.reset(context)
        if outcome.status is not None and outcome.status.finished:
            self.finished += 1
        return outcome

    async def _run_claimed(self, claim: Claim) -> RunOutcome:
        async def routed(decision: RouteDecision) -> None:
            await self.store.update_claimed(
                claim,
                TaskStatus.RUNNING,
                route=decision.to_dict(),
                agent=decision.agent,
                out_of_scope=decision.out_of_scope,
            )

        work = asyncio.create_task(
            asyncio.wait_for(
                self._supervisor.handle(claim.text, routed, self.tool_calls.journal(claim)),
                claim.timeout,
            )
        )
        self.running[claim.task_id] = work
        heartbeat = asyncio.create_task(self._heartbeat(claim, work))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if heartbeat.done() and isinstance(heartbeat.exception(), _Stop):
                return await self._stopped(claim)
            if work.cancelled() and not _current_cancelled():
                return await self._stopped(claim)  # cancelled through TaskManager.cancel
            raise
        except TimeoutError:
            return await self._final(
                claim,
                TaskStatus.TIMED_OUT,
                f"task ran over {claim.timeout:g} s",
                tool_calls=await self._recorded_calls(claim),
            )
        except TRANSIENT_ERRORS as exc:
            return await self._failed(claim, exc.message, transient=True)
        except SmolitError as exc:
            return await self._failed(claim, exc.message, transient=False)
        except Exception as exc:  # one task must never take its worker down
            logger.exception("task %s failed unexpectedly", claim.task_id)
            return await self._failed(
                claim, f"internal error: {exc.__class__.__name__}", transient=False
            )
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Stop):
                await heartbeat
            self.running.pop(claim.task_id, None)
        return await self._succeeded(claim, outcome)

    async def _heartbeat(self, claim: Claim, work: asyncio.Task[SupervisorOutcome]) -> None:
        interval = max(0.2, self._lease / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self.store.renew(claim, self._lease)
            except SQLAlchemyError as exc:
                logger.warning("task %s: cannot renew its lease (%s)", claim.task_id, exc)
                continue
            if not held:
                work.cancel()
                raise _Stop()

    async def _stopped(self, claim: Claim) -> RunOutcome:
        """Cancelled on request (recorded), or the claim was lost (another worker has it)."""
        if await self.store.cancel_claimed(claim):
            return RunOutcome(True, TaskStatus.CANCELLED)
        logger.warning("task %s: claim lost; another worker runs it", claim.task_id)
        return RunOutcome(True)

    async def _succeeded(self, claim: Claim, outcome: SupervisorOutcome) -> RunOutcome:
        result = outcome.result
        route = outcome.decision.to_dict()
        if outcome.failures:
            route["failures"] = outcome.failures
        stored = await self.store.update_claimed(
            claim,
            TaskStatus.SUCCEEDED,
            answer=outcome.answer(),
            agent=result.agent if result else None,
            model=result.model if result else None,
            out_of_scope=outcome.out_of_scope,
            route=route,
            sources=result.sources if result else [],
            timings={**outcome.timings, **(result.timings if result else {})},
            usage=result.usage if result else {},
            tool_calls=result.tool_calls if result else [],
            error=None,
        )
        if not stored:
            logger.warning(
                "task %s finished after its claim was lost; result dropped", claim.task_id
            )
        return RunOutcome(True, TaskStatus.SUCCEEDED if stored else None)

    async def _final(
        self, claim: Claim, status: TaskStatus, error: str, **values: Any
    ) -> RunOutcome:
        await self.store.update_claimed(claim, status, error=error, **values)
        return RunOutcome(True, status)

    async def _recorded_calls(self, claim: Claim) -> list[dict[str, Any]]:
        """The tool calls this attempt recorded, for a run that ended without a result."""
        attempt = range(claim.attempt, claim.attempt + 1)
        entries = await asyncio.to_thread(self.tool_calls.entries, claim.task_id, attempt)
        return [entry.to_dict() for entry in entries]

    async def _failed(self, claim: Claim, error: str, transient: bool) -> RunOutcome:
        delay = await self.store.fail_attempt(
            claim, error, transient, self._backoff, self._requeue_after
        )
        if delay is not None:
            logger.info("task %s: %s; retrying in %.1f s", claim.task_id, error, delay)
            return RunOutcome(True, TaskStatus.QUEUED, retry_in=delay)
        return RunOutcome(True, TaskStatus.FAILED)

    def cancel_local(self, task_id: str) -> bool:
        """Stop a task running in this process now (its cancel is already recorded)."""
        work = self.running.get(task_id)
        if work is None:
            return False
        work.cancel()
        return True


def _current_cancelled() -> bool:
    """Whether the task running this code is itself being cancelled (shutdown)."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
