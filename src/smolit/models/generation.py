"""``ModelRunner``: generations on resolved models, measured, optionally cached.

Each generation borrows its backend from the pool for its duration (``acquire``), records
its time and tokens per model version (``ModelStats``), and turns a backend's failure of
any kind into ``ModelError``. Deterministic generations may be answered from a response
cache, which reaches this module only through the ``ResponseStore`` protocol (the cache
package's ``ResponseCache`` satisfies it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractContextManager
from typing import Protocol

from smolit.errors import ModelError, SmolitError
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.catalog import ResolvedModel
from smolit.models.stats import ModelStats

Acquire = Callable[[ResolvedModel], AbstractContextManager[ModelBackend]]


class ResponseStore(Protocol):
    """Answers of earlier generations, by model version key, messages and parameters."""

    def get(
        self, model_key: str, messages: list[ChatMessage], params: GenerationParams
    ) -> GenerationResult | None: ...

    def put(
        self,
        model_key: str,
        messages: list[ChatMessage],
        params: GenerationParams,
        result: GenerationResult,
    ) -> bool: ...


def _failure(resolved: ResolvedModel, exc: Exception) -> ModelError:
    return ModelError(
        f"model {resolved.key!r} failed: {type(exc).__name__}: {exc}",
        details={"model": resolved.key},
    )


class ModelRunner:
    """Runs generations on the backends ``acquire`` lends, recording them in ``stats``."""

    def __init__(self, acquire: Acquire, stats: ModelStats) -> None:
        self._acquire = acquire
        self.stats = stats
        self.responses: ResponseStore | None = None

    def generate(
        self,
        resolved: ResolvedModel,
        messages: list[ChatMessage],
        params: GenerationParams,
        cache: bool = False,
    ) -> GenerationResult:
        """Generate, blocking; with ``cache``, a deterministic (temperature 0) generation
        is answered from ``responses`` when this model version already answered it."""
        responses = self.responses if cache else None
        if responses is not None:
            hit = responses.get(resolved.key, messages, params)
            if hit is not None:
                return hit
        result = self._generate(resolved, messages, params)
        if responses is not None:
            responses.put(resolved.key, messages, params, result)
        return result

    def _generate(
        self, resolved: ResolvedModel, messages: list[ChatMessage], params: GenerationParams
    ) -> GenerationResult:
        started = time.perf_counter()
        result: GenerationResult | None = None
        try:
            with self._acquire(resolved) as backend:
                result = backend.generate(messages, params)
            return result
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while generating
            raise _failure(resolved, exc) from exc
        finally:
            self.stats.record(
                resolved.key, resolved.definition, time.perf_counter() - started, result
            )

    def stream_sync(
        self, resolved: ResolvedModel, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        """Generate token by token, blocking; closing the generator stops the model."""
        started = time.perf_counter()
        final: GenerationResult | None = None
        cancelled = False
        try:
            with self._acquire(resolved) as backend:
                events = backend.stream(messages, params)
                try:
                    for event in events:
                        if event.result is not None:
                            final = event.result
                        yield event
                finally:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()
        except GeneratorExit:
            cancelled = True
            raise
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while generating
            raise _failure(resolved, exc) from exc
        finally:
            if not cancelled:
                self.stats.record(
                    resolved.key,
                    resolved.definition,
                    time.perf_counter() - started,
                    final,
                    streamed=True,
                )

    async def stream(
        self, resolved: ResolvedModel, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """``stream_sync`` in a worker thread; events arrive on the event loop.

        When the consumer stops early, the worker closes the model's stream after its
        next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StreamEvent | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def deliver(item: StreamEvent | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def produce() -> None:
            events = self.stream_sync(resolved, messages, params)
            try:
                for event in events:
                    deliver(event)
                    if stop.is_set():
                        break
            except BaseException as exc:  # handed to the consumer, which raises it
                deliver(exc)
                return
            finally:
                events.close()
            deliver(None)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if producer.done():
                producer.result()
