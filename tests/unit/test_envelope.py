"""The AES-GCM envelope shared by backups, uploads and vector indexes."""

from __future__ import annotations

import os

import pytest

from smolit.errors import ValidationError
from smolit.security.envelope import CHUNK, FILE_MAGIC, PREFIX, TAG, seal, unseal

KEY = bytes(range(32))


def test_data_over_several_chunks_round_trips() -> None:
    data = os.urandom(2 * CHUNK + 123)
    assert unseal(seal(data, KEY), KEY) == data


def test_data_of_whole_chunks_round_trips() -> None:
    data = os.urandom(CHUNK)
    assert unseal(seal(data, KEY), KEY) == data


def test_a_file_cut_after_a_whole_chunk_is_refused() -> None:
    sealed = seal(os.urandom(CHUNK + 10), KEY)
    first = len(FILE_MAGIC) + PREFIX + 4 + CHUNK + TAG
    with pytest.raises(ValidationError, match="altered or truncated"):
        unseal(sealed[:first], KEY)


def test_another_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="wrong key"):
        unseal(seal(b"secret", KEY), bytes(32))


def test_another_kind_of_file_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an encrypted smolit file"):
        unseal(b"SQLite format 3\x00" + bytes(100), KEY)
