"""AES-GCM encryption of backup archives, in 1 MiB chunks so archives of any size stream.

File layout: ``MAGIC`` (8 bytes), an 8-byte random nonce prefix, then chunks, each a 4-byte
big-endian length and the ciphertext (with its 16-byte tag). Chunk ``i`` uses the nonce
prefix + ``i`` and authenticates the header, ``i`` and whether it is the last chunk, so a
reordered, truncated, extended or altered file fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smolit.errors import ConfigError, ValidationError

MAGIC = b"SMOLBK1\n"
CHUNK = 1 << 20
TAG = 16


def load_key(variable: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The 32-byte key in ``$variable`` (base64); None when no variable is configured."""
    if variable is None:
        return None
    raw = environ.get(variable)
    if not raw:
        raise ConfigError(
            f"system.backup_key_env names {variable}, which is not set; create a key with "
            '`python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"`'
        )
    try:
        key = base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ConfigError(f"${variable} is not valid base64") from exc
    if len(key) != 32:
        raise ConfigError(f"${variable} must hold 32 bytes (base64); it holds {len(key)}")
    return key


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">Q?", index, last)


def encrypt_file(source: Path, target: Path, key: bytes) -> None:
    cipher = AESGCM(key)
    prefix = os.urandom(8)
    header = MAGIC + prefix
    with source.open("rb") as plain, target.open("wb") as out:
        out.write(header)
        index = 0
        chunk = plain.read(CHUNK)
        while True:
            following = plain.read(CHUNK)
            last = not following
            sealed = cipher.encrypt(
                prefix + struct.pack(">I", index), chunk, _aad(header, index, last)
            )
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return
            chunk, index = following, index + 1


def _read_exact(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ValidationError("the encrypted archive is truncated")
    return data


def decrypt_file(source: Path, target: Path, key: bytes | None) -> None:
    """Decrypt ``source`` into ``target``; a wrong key, a damaged or truncated file raise
    ``ValidationError`` (and leave no ``target``)."""
    if key is None:
        raise ConfigError(
            f"{source.name} is encrypted: set system.backup_key_env to the variable holding its key"
        )
    cipher = AESGCM(key)
    try:
        with source.open("rb") as sealed, target.open("wb") as out:
            header = _read_exact(sealed, len(MAGIC) + 8)
            prefix = header[len(MAGIC) :]
            index = 0
            while True:
                size = struct.unpack(">I", _read_exact(sealed, 4))[0]
                if not TAG <= size <= CHUNK + TAG:
                    raise ValidationError("the encrypted archive is damaged")
                body = _read_exact(sealed, size)
                last = sealed.peek(1) == b""
                nonce = prefix + struct.pack(">I", index)
                try:
                    out.write(cipher.decrypt(nonce, body, _aad(header, index, last)))
                except InvalidTag as exc:
                    raise ValidationError(
                        "cannot decrypt the archive: wrong key, or the file was altered or "
                        "truncated"
                    ) from exc
                if last:
                    return
                index += 1
    except BaseException:
        target.unlink(missing_ok=True)
        raise
