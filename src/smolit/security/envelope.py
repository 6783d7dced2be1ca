"""AES-GCM envelopes: the one encryption of files at rest (backups, uploads, FAISS indexes).

Layout: a magic string (8 bytes, naming what the file is), an 8-byte random nonce
prefix, then chunks of up to 1 MiB, each a 4-byte big-endian length and the ciphertext
(with its 16-byte tag). Chunk ``i`` uses the nonce prefix + ``i`` and authenticates the
header, ``i`` and whether it is the last chunk, so a reordered, truncated, extended or
altered file fails to open. ``SealingWriter`` encrypts as it is written (nothing in the
clear ever reaches the disk), ``open_stream`` decrypts chunk by chunk, ``seal`` and
``unseal`` do the same for bytes in memory.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smolit.errors import ValidationError

CHUNK = 1 << 20
TAG = 16
PREFIX = 8
#: the magic of files sealed at rest (uploads, FAISS indexes)
FILE_MAGIC = b"SMOLAE1\n"


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">Q?", index, last)


class SealingWriter(io.RawIOBase):
    """A write-only stream that encrypts into ``out``; ``close`` writes the last chunk
    (it does not close ``out``)."""

    def __init__(self, out: BinaryIO, key: bytes, magic: bytes) -> None:
        super().__init__()
        self._out = out
        self._cipher = AESGCM(key)
        self._prefix = os.urandom(PREFIX)
        self._header = magic + self._prefix
        self._buffer = bytearray()
        self._index = 0
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        # a chunk goes out only when more bytes follow it: the last one is sealed as last
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        sealed = self._cipher.encrypt(nonce, chunk, _aad(self._header, self._index, last))
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()


def _read_exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ValidationError("the encrypted file is truncated")
    return data


def is_sealed(head: bytes, magic: bytes) -> bool:
    return head[: len(magic)] == magic


def chunks(sealed: BinaryIO, key: bytes, magic: bytes) -> Iterator[bytes]:
    """The plain chunks of ``sealed``; ``ValidationError`` for a wrong key, another kind
    of file, or a damaged, truncated or extended one (raised before its chunk is given)."""
    cipher = AESGCM(key)
    header = _read_exact(sealed, len(magic) + PREFIX)
    if not is_sealed(header, magic):
        raise ValidationError("not an encrypted smolit file (its header is another)")
    prefix = header[len(magic) :]
    index = 0
    size_field = _read_exact(sealed, 4)
    while True:
        size = struct.unpack(">I", size_field)[0]
        if not TAG <= size <= CHUNK + TAG:
            raise ValidationError("the encrypted file is damaged")
        body = _read_exact(sealed, size)
        size_field = sealed.read(4)
        last = size_field == b""
        nonce = prefix + struct.pack(">I", index)
        try:
            yield cipher.decrypt(nonce, body, _aad(header, index, last))
        except InvalidTag as exc:
            raise ValidationError(
                "cannot decrypt: wrong key, or the file was altered or truncated"
            ) from exc
        if last:
            return
        if len(size_field) != 4:
            raise ValidationError("the encrypted file is truncated")
        index += 1


class OpeningReader(io.RawIOBase):
    """A read-only stream of the plain bytes of ``sealed`` (for streaming consumers)."""

    def __init__(self, sealed: BinaryIO, key: bytes, magic: bytes) -> None:
        super().__init__()
        self._chunks = chunks(sealed, key, magic)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            following = next(self._chunks, None)
            if following is None:
                return 0
            self._buffer = following
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def seal(data: bytes, key: bytes, magic: bytes = FILE_MAGIC) -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, key, magic)
    writer.write(data)
    writer.close()
    return out.getvalue()


def unseal(data: bytes, key: bytes, magic: bytes = FILE_MAGIC) -> bytes:
    return b"".join(chunks(io.BytesIO(data), key, magic))
