"""The embedded mode's in-process queue: priority order, delays, and puts from threads."""

from __future__ import annotations

import asyncio
import threading

from smolit.tasks.queues import LocalQueue


def test_highest_priority_first_then_oldest() -> None:
    async def body() -> list[str]:
        queue = LocalQueue()
        queue.put("low", 0)
        queue.put("normal-1", 1)
        queue.put("high", 2)
        queue.put("normal-2", 1)
        return [await queue.get() for _ in range(4)]

    assert asyncio.run(body()) == ["high", "normal-1", "normal-2", "low"]


def test_a_delayed_put_arrives_after_its_delay() -> None:
    async def body() -> tuple[int, str]:
        queue = LocalQueue()
        queue.put("later", 1, delay=0.2)
        before = queue.qsize()
        return before, await asyncio.wait_for(queue.get(), 5)

    assert asyncio.run(body()) == (0, "later")


def test_puts_from_other_threads_reach_the_loop() -> None:
    """The re-queue job calls ``put`` from a worker thread; every id must arrive."""

    async def body() -> list[str]:
        queue = LocalQueue()

        def producer(start: int) -> None:
            for i in range(start, start + 50):
                queue.put(f"t{i:03d}", 1)

        threads = [threading.Thread(target=producer, args=(n * 50,)) for n in range(4)]
        for thread in threads:
            thread.start()
        got = [await asyncio.wait_for(queue.get(), 5) for _ in range(200)]
        for thread in threads:
            thread.join()
        return got

    got = asyncio.run(body())
    assert sorted(got) == [f"t{i:03d}" for i in range(200)]


def test_a_put_from_a_thread_wakes_a_waiting_reader_safely() -> None:
    """In debug mode asyncio refuses loop calls from a foreign thread; a put must not
    make one (waking the waiting reader is done on the loop)."""
    errors: list[BaseException] = []

    async def body() -> str:
        queue = LocalQueue()
        reader = asyncio.create_task(queue.get())
        await asyncio.sleep(0.05)  # the reader is now waiting on the queue

        def producer() -> None:
            try:
                queue.put("woken", 1)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=producer)
        thread.start()
        thread.join()
        return await asyncio.wait_for(reader, 5)

    assert asyncio.run(body(), debug=True) == "woken"
    assert errors == []
