"""Model files on disk: reading GGUF headers.

``read_gguf`` parses a GGUF file's header (metadata and tensor table) without touching the
weights, fast enough for a definition check or a memory estimate (milliseconds for the
bundled SmolLM2, where ``gguf.GGUFReader`` takes seconds decoding the vocabulary).
``verify_gguf`` turns its failures into a one-line reason for the registry and the backends.
Loading Hugging Face weights quietly, one load at a time, is ``smolit.encoding.loading``.
"""

from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolit.errors import ModelError

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
GGUF_DEFAULT_ALIGNMENT = 32
#: struct formats of the scalar GGUF value types (gguf.GGUFValueType), little-endian
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4

Scalar = int | float | bool | str


# --- GGUF headers ---------------------------------------------------------------------


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF header says: format version, weights and scalar metadata."""

    version: int
    tensor_count: int
    #: number of weights in all tensors (what a de-quantised copy holds)
    parameters: int
    #: byte offset where the last tensor's data ends (the file is at least this long)
    data_end: int
    metadata: dict[str, Scalar] = field(default_factory=dict)

    def integer(self, key: str) -> int | None:
        """An integer metadata value (``llama.block_count``), or None."""
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Malformed(ValueError):
    """The header cannot be parsed; the message says why."""


class _Cursor:
    """Reads little-endian GGUF values from a buffer, raising ``_Malformed`` past its end."""

    def __init__(self, buffer: mmap.mmap) -> None:
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        layout = struct.Struct("<" + fmt)
        if self.offset + layout.size > len(self.buffer):
            raise _Malformed(f"truncated header (ends at byte {len(self.buffer)})")
        values = layout.unpack_from(self.buffer, self.offset)
        self.offset += layout.size
        return tuple(values)

    def count(self) -> int:
        return int(self.unpack("Q")[0])

    def skip(self, size: int) -> None:
        if self.offset + size > len(self.buffer):
            raise _Malformed(f"truncated header (ends at byte {len(self.buffer)})")
        self.offset += size

    def string(self) -> str:
        length = self.count()
        start = self.offset
        self.skip(length)
        return bytes(self.buffer[start : self.offset]).decode("utf-8", errors="replace")

    def value(self, value_type: int) -> Scalar | None:
        """Read one value; arrays are skipped (None), scalars and strings returned."""
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            (item_type,) = self.unpack("I")
            items = self.count()
            if item_type in _SCALARS:
                self.skip(items * struct.calcsize("<" + _SCALARS[item_type]))
            else:
                for _ in range(items):
                    self.value(int(item_type))
            return None
        if value_type not in _SCALARS:
            raise _Malformed(f"unknown metadata value type {value_type}")
        scalar: Scalar = self.unpack(_SCALARS[value_type])[0]
        return scalar


def _check_counts(cursor: _Cursor, *counts: int) -> None:
    # every entry takes at least 8 bytes: a count beyond the file size means garbage
    if any(count * 8 > len(cursor.buffer) for count in counts):
        raise _Malformed(f"implausible header counts {counts}")


def _parse(buffer: mmap.mmap) -> GGUFInfo:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    cursor = _Cursor(buffer)
    if bytes(buffer[:4]) != GGUF_MAGIC:
        raise _Malformed(f"it starts with {bytes(buffer[:4])!r}, not the magic bytes b'GGUF'")
    version = int(cursor.unpack("4xI")[0])
    if version not in GGUF_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        kind = "big-endian GGUF files are" if swapped in GGUF_VERSIONS else f"version {version} is"
        raise _Malformed(f"{kind} not supported (GGUF versions {GGUF_VERSIONS})")
    tensor_count, kv_count = cursor.count(), cursor.count()
    _check_counts(cursor, tensor_count, kv_count)
    metadata: dict[str, Scalar] = {}
    for _ in range(kv_count):
        key = cursor.string()
        (value_type,) = cursor.unpack("I")
        value = cursor.value(int(value_type))
        if value is not None:
            metadata[key] = value
    parameters, extents = 0, []
    for _ in range(tensor_count):
        name = cursor.string()
        (n_dims,) = cursor.unpack("I")
        if not 0 < int(n_dims) <= _MAX_DIMS:
            raise _Malformed(f"tensor {name!r} has {n_dims} dimensions")
        dims = cursor.unpack(f"{n_dims}Q")
        type_id, offset = cursor.unpack("IQ")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
        except (ValueError, KeyError) as exc:
            raise _Malformed(f"tensor {name!r} has unknown type {type_id}") from exc
        elements = math.prod(int(d) for d in dims)
        parameters += elements
        extents.append((int(offset), elements * type_size // block))
    alignment = metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        raise _Malformed(f"invalid general.alignment {alignment!r}")
    data_start = -(-cursor.offset // alignment) * alignment
    data_end = max((data_start + offset + size for offset, size in extents), default=data_start)
    return GGUFInfo(version, tensor_count, parameters, data_end, metadata)


def _invalid(path: Path, reason: str, **details: Any) -> ModelError:
    return ModelError(f"{path} {reason}", details={"path": str(path), "reason": reason, **details})


def read_gguf(path: Path) -> GGUFInfo:
    """Parse the header of the GGUF file ``path``; ``ModelError`` saying what is wrong
    (``details["reason"]`` without the path). A file shorter than its tensor table says,
    such as an interrupted download, is an error too."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            if size == 0:
                raise _Malformed("the file is empty")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                info = _parse(buffer)
    except OSError as exc:
        raise _invalid(path, f"cannot be read: {exc.strerror or exc}") from exc
    except _Malformed as exc:
        raise _invalid(path, f"is not a valid GGUF file: {exc}") from exc
    if info.data_end > size:
        raise _invalid(
            path,
            f"is truncated: its tensors end at byte {info.data_end} but the file has {size} "
            "bytes (an interrupted download?)",
            size=size,
            expected=info.data_end,
        )
    return info


def verify_gguf(path: Path | str) -> str | None:
    """Why ``path`` is not a usable GGUF file (magic bytes, version, header, length); None
    when it is. Reads the header only, so it is cheap even for large files."""
    try:
        read_gguf(Path(path))
    except ModelError as exc:
        return exc.message
    return None
