"""The tensor cache: bytes per device, copies moved to the device a caller asks for."""

from __future__ import annotations

import pytest
import torch

from smolit.cache import TensorCache
from smolit.errors import ValidationError


def test_bytes_are_counted_per_device() -> None:
    cache = TensorCache(1 << 20)
    cache.set("cpu", torch.zeros(100, dtype=torch.float32))
    cache.set("meta", torch.zeros(10, dtype=torch.float64, device="meta"))
    stats = cache.stats()
    assert stats["bytes_by_device"] == {"cpu": 400, "meta": 80}
    assert stats["bytes"] == 480


def test_a_key_can_ask_for_a_copy_on_another_device() -> None:
    cache = TensorCache(1 << 20)
    original = torch.arange(4.0)
    cache.set("t", original)
    moved = cache.get("t", device="meta")
    assert moved.device.type == "meta" and moved.shape == (4,)
    assert cache.get("t", device="cpu") is cache.get("t")
    assert cache.bytes_by_device() == {"cpu": 16}


def test_a_tensor_larger_than_the_cache_keeps_the_others() -> None:
    cache = TensorCache(1000)
    cache.set("small", torch.zeros(10))
    assert cache.set("big", torch.zeros(1000)) is False
    assert "small" in cache and cache.counters.evictions["size"] == 0


def test_cached_tensors_are_detached() -> None:
    cache = TensorCache(1 << 20)
    cache.set("g", torch.ones(3, requires_grad=True) * 2)
    assert cache.get("g").requires_grad is False


def test_only_tensors_are_accepted() -> None:
    with pytest.raises(ValidationError, match="torch tensors, not list"):
        TensorCache(1024).set("x", [1, 2])


def test_an_unknown_device_is_a_clear_error() -> None:
    cache = TensorCache(1024)
    cache.set("t", torch.zeros(1))
    with pytest.raises(ValidationError, match="unknown device 'gpu0'"):
        cache.get("t", device="gpu0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_are_counted_on_their_device_and_copied_back() -> None:
    cache = TensorCache(1 << 20)
    cache.set("g", torch.ones(8, device="cuda"))
    assert cache.bytes_by_device() == {"cuda:0": 32}
    assert cache.get("g", device="cpu").device.type == "cpu"
    assert cache.get("g", device="cuda") is cache.get("g")
