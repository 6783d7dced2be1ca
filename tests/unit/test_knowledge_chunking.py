import pytest

from smolit.errors import ValidationError
from smolit.knowledge.chunking import chunk_for_encoder, chunk_text
from smolit.testing import LookupEncoder


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


def letters(words: list[str]) -> list[int]:
    """A stand-in tokenizer: one token per letter."""
    return [len(word) for word in words]


class WindowEncoder(LookupEncoder):
    """A lookup encoder with a window of ``max_tokens`` letters."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(dimension=8)
        self.max_tokens = max_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        return letters([text.replace(" ", "") for text in texts])


def test_no_chunk_exceeds_max_tokens() -> None:
    text = "\n\n".join(words(n, f"p{n}_") for n in (3, 30, 7, 16, 1, 50))
    chunks = chunk_text(text, 100, 5, max_tokens=40, token_count=letters)
    assert all(sum(letters(c.split())) <= 40 for c in chunks)
    assert {w for c in chunks for w in c.split()} == set(text.split())


def test_token_windows_overlap_by_at_most_half_the_budget() -> None:
    chunks = chunk_text(words(60, "abcd"), 100, 50, max_tokens=30, token_count=letters)
    first, second = chunks[0].split(), chunks[1].split()
    overlap = [w for w in second if w in first]
    assert overlap and sum(letters(overlap)) <= 15


def test_long_paragraph_is_cut_after_a_sentence_end() -> None:
    text = f"{words(10, 'a')}. {words(4, 'b')}"
    chunks = chunk_text(text, 12, 0)
    assert chunks[0].endswith("a9.") and chunks[1].startswith("b0")


def test_a_word_longer_than_the_budget_is_a_chunk_of_its_own() -> None:
    chunks = chunk_text("tiny " + "x" * 50 + " small", 16, 0, max_tokens=10, token_count=letters)
    assert chunks == ["tiny", "x" * 50, "small"]


def test_chunks_for_an_encoder_put_the_title_before_each_embedded_chunk() -> None:
    encoded = chunk_for_encoder("Pets", words(30, "abc"), 100, 0, WindowEncoder(60))
    assert encoded.inputs == [f"Pets\n\n{chunk}" for chunk in encoded.chunks]
    assert all(sum(letters(c.split())) <= 60 - 4 for c in encoded.chunks)


def test_a_title_taking_over_a_quarter_of_the_window_is_left_out() -> None:
    encoded = chunk_for_encoder("A very long title indeed", "some text", 100, 0, WindowEncoder(40))
    assert encoded.inputs == encoded.chunks == ["some text"]


def test_an_encoder_without_a_window_chunks_by_words_only() -> None:
    encoded = chunk_for_encoder("T", words(40), 16, 4, LookupEncoder())
    assert len(encoded.chunks) == 3 and encoded.inputs[0].startswith("T\n\nw0 ")
