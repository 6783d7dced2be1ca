"""``TensorCache``: torch tensors, measured in bytes and counted per device."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable
from typing import Any

import torch

from smolit.cache.bounded import BoundedCache, check_ttl
from smolit.cache.policies import Clock
from smolit.errors import ValidationError


def tensor_bytes(tensor: torch.Tensor) -> int:
    return int(tensor.nelement() * tensor.element_size())


def _device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValidationError(
            f"unknown device {device!r} (use e.g. 'cpu', 'cuda', 'cuda:1', 'mps')",
            details={"device": str(device)},
        ) from exc


class TensorCache(BoundedCache):
    """Tensors stay on the device they were cached from; ``get(key, device=...)`` hands
    back a copy moved to ``device`` when they live elsewhere."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(
            "tensor",
            limit_bytes,
            policy=policy,
            default_ttl=default_ttl,
            sizeof=tensor_bytes,
            clock=clock,
        )

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Cache a detached ``value``; False when it is larger than the whole cache."""
        if not isinstance(value, torch.Tensor):
            raise ValidationError(
                f"the tensor cache holds torch tensors, not {type(value).__qualname__}",
                details={"type": type(value).__qualname__},
            )
        lifetime = check_ttl(ttl, self.default_ttl)
        tensor = value.detach()
        return self.put_sized(key, tensor, tensor_bytes(tensor), lifetime)

    def get(
        self, key: Hashable, default: Any = None, *, device: str | torch.device | None = None
    ) -> Any:
        """The cached tensor (do not modify it in place), or a copy on ``device``."""
        target = _device(device) if device is not None else None
        tensor = super().get(key, None)
        if tensor is None:
            return default
        if target is None or _same_device(tensor.device, target):
            return tensor
        try:
            return tensor.to(target)
        except (RuntimeError, AssertionError) as exc:  # torch says "not compiled with CUDA"
            raise ValidationError(
                f"cannot move the cached tensor to {target}: {exc}",
                details={"device": str(target)},
            ) from exc

    def bytes_by_device(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for entry in self.entries():
            totals[str(entry.value.device)] += entry.size
        return dict(totals)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "bytes_by_device": self.bytes_by_device()}


def _same_device(current: torch.device, target: torch.device) -> bool:
    if current.type != target.type:
        return False
    # 'cuda' means the current device: treat it as equal to any index of that type
    return target.index is None or current.index == target.index
