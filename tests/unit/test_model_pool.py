"""``BackendPool``: one load per model, LRU eviction of idle models under a memory budget."""

from __future__ import annotations

import threading
import time

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ModelError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult, ModelBackend
from smolit.models.pool import BackendPool
from smolit.units import MIB


class Sized(ModelBackend):
    """A backend that says how much memory it holds and records being closed."""

    def __init__(self, name: str, megabytes: int, load_seconds: float = 0.0) -> None:
        super().__init__(name, ModelDefinition(backend="fake"))
        time.sleep(load_seconds)
        self.megabytes = megabytes
        self.closed = False

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        return GenerationResult(text="ok", model=self.name)

    def memory_bytes(self) -> int:
        return self.megabytes * MIB

    def close(self) -> None:
        self.closed = True


def use(pool: BackendPool, key: str, megabytes: int) -> Sized:
    with pool.acquire(key, lambda: Sized(key, megabytes), megabytes * MIB) as backend:
        assert isinstance(backend, Sized)
        return backend


def test_a_model_is_loaded_once_and_reused() -> None:
    pool = BackendPool(100 * MIB)
    first = use(pool, "a", 10)
    assert use(pool, "a", 10) is first
    assert pool.loads == {"a": 1}


def test_the_least_recently_used_idle_model_is_unloaded_for_room() -> None:
    pool = BackendPool(100 * MIB)
    a = use(pool, "a", 40)
    b = use(pool, "b", 40)
    use(pool, "a", 40)  # b is now the least recently used
    use(pool, "c", 40)
    assert pool.keys() == ["a", "c"]
    assert b.closed and not a.closed
    assert pool.budget()["used_mb"] == 80


def test_models_in_use_are_never_unloaded() -> None:
    pool = BackendPool(100 * MIB, wait_seconds=0.2)
    with pool.acquire("a", lambda: Sized("a", 60), 60 * MIB) as a:
        with pytest.raises(ModelError, match="held by models in use"):
            use(pool, "b", 60)
        assert isinstance(a, Sized) and not a.closed
    assert pool.keys() == ["a"]


def test_a_load_waits_for_a_busy_model_to_become_idle() -> None:
    pool = BackendPool(100 * MIB, wait_seconds=10)
    entered = threading.Event()

    def hold() -> None:
        with pool.acquire("a", lambda: Sized("a", 60), 60 * MIB):
            entered.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    use(pool, "b", 60)
    holder.join()
    assert pool.keys() == ["b"]


def test_a_model_larger_than_the_budget_is_refused_clearly() -> None:
    pool = BackendPool(100 * MIB)
    with pytest.raises(ModelError, match=r"raise models.max_memory_mb") as caught:
        use(pool, "huge", 200)
    assert caught.value.details["needed_mb"] == 200
    assert pool.keys() == [] and pool.budget()["used_mb"] == 0


def test_concurrent_requests_for_one_model_load_it_once() -> None:
    pool = BackendPool(100 * MIB)
    builds: list[Sized] = []

    def build() -> Sized:
        backend = Sized("a", 10, load_seconds=0.2)
        builds.append(backend)
        return backend

    seen: list[ModelBackend] = []

    def request() -> None:
        with pool.acquire("a", build, 10 * MIB) as backend:
            seen.append(backend)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(seen) == 8 and all(b is builds[0] for b in seen)


def test_a_failed_load_leaves_no_reservation_and_can_be_retried() -> None:
    pool = BackendPool(100 * MIB)

    def broken() -> Sized:
        raise RuntimeError("weights are gone")

    with pytest.raises(RuntimeError), pool.acquire("a", broken, 90 * MIB):
        pass
    assert pool.budget()["used_mb"] == 0
    assert use(pool, "a", 90).megabytes == 90


def test_resident_reports_memory_and_use() -> None:
    pool = BackendPool(100 * MIB)
    use(pool, "a", 10)
    use(pool, "a", 10)
    (entry,) = pool.resident()
    assert (entry["model"], entry["memory_mb"], entry["uses"], entry["in_use"]) == ("a", 10, 2, 0)
    assert pool.unload("a") and not pool.unload("a")
