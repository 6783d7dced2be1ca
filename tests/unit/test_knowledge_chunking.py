import pytest

from smolit.errors import ValidationError
from smolit.knowledge.chunking import chunk_text


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("one two  three\nfour", 16, 4) == ["one two three four"]


def test_whitespace_only_text_gives_no_chunks() -> None:
    assert chunk_text(" \n\n\t ", 16, 4) == []


def test_small_paragraphs_share_a_chunk() -> None:
    text = f"{words(5, 'a')}\n\n{words(5, 'b')}"
    assert chunk_text(text, 16, 4) == [f"{words(5, 'a')}\n\n{words(5, 'b')}"]


def test_chunk_ends_at_a_paragraph_boundary_rather_than_splitting_one() -> None:
    text = f"{words(10, 'a')}\n\n{words(10, 'b')}"
    assert chunk_text(text, 16, 4) == [words(10, "a"), words(10, "b")]


def test_long_paragraph_is_split_into_overlapping_windows() -> None:
    chunks = chunk_text(words(40), 16, 4)
    assert [c.split()[0] for c in chunks] == ["w0", "w12", "w24"]
    assert chunks[0].split()[-4:] == chunks[1].split()[:4]
    assert chunks[-1].split()[-1] == "w39"


def test_no_chunk_exceeds_chunk_words() -> None:
    text = "\n\n".join(words(n, f"p{n}_") for n in (3, 30, 7, 16, 1, 50))
    assert all(len(c.split()) <= 16 for c in chunk_text(text, 16, 5))


def test_every_word_is_kept() -> None:
    text = "\n\n".join(words(n, f"p{n}_") for n in (3, 30, 7, 16, 1, 50))
    kept = {w for chunk in chunk_text(text, 16, 5) for w in chunk.split()}
    assert kept == set(text.split())


def test_overlap_as_large_as_the_window_is_rejected() -> None:
    with pytest.raises(ValidationError, match="chunk_overlap"):
        chunk_text("text", 16, 16)
