"""Split document text into chunks that fit the encoder's window, following the text's shape.

A chunk holds at most ``chunk_words`` words and, when a ``TokenCounter`` and ``max_tokens``
are given, at most ``max_tokens`` tokens, so the encoder reads every word of it instead of
cutting its tail. Whole paragraphs are packed into a chunk while they fit; a longer
paragraph is cut into windows, each ending at a sentence end where one lies in the second
half of the window, and each repeating the last ``chunk_overlap`` words of the one before
(never more than half the token budget), so no sentence is lost at a cut.

Tokens are counted word by word. For WordPiece and similar tokenizers, which split on
whitespace before anything else, the sum over the words is exactly the count of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smolit.errors import ValidationError

if TYPE_CHECKING:  # annotations only: the encoder module pulls in the model stack
    from smolit.encoding.base import TextEncoder

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")

#: (texts) -> their token counts, one per text
TokenCounter = Callable[[list[str]], list[int]]
#: a title longer than this share of the encoder's window is not put in front of chunks
TITLE_SHARE = 0.25


def split_paragraphs(text: str) -> list[list[str]]:
    """The paragraphs of ``text`` (separated by blank lines), each as a list of words."""
    paragraphs = (part.split() for part in _PARAGRAPH_BREAK.split(text))
    return [words for words in paragraphs if words]


@dataclass(frozen=True)
class _Limits:
    words: int
    overlap: int
    tokens: int | None


def _window_end(words: list[str], costs: list[int], start: int, limits: _Limits) -> int:
    """Where the window beginning at ``start`` ends (exclusive): the limits, then a sentence."""
    end, tokens = start, 0
    while end < len(words) and end - start < limits.words:
        if limits.tokens is not None and tokens + costs[end] > limits.tokens:
            break
        tokens += costs[end]
        end += 1
    end = max(end, start + 1)  # a lone word over the budget still makes a chunk
    if end < len(words):
        for cut in range(end, start + (end - start) // 2, -1):
            if _SENTENCE_END.search(words[cut - 1]):
                return cut
    return end


def _windows(words: list[str], costs: list[int], limits: _Limits) -> list[list[str]]:
    windows = []
    start = 0
    while True:
        end = _window_end(words, costs, start, limits)
        windows.append(words[start:end])
        if end >= len(words):
            return windows
        overlap_budget = limits.tokens // 2 if limits.tokens is not None else None
        following, overlap_tokens = end, 0
        while following > start + 1 and end - following < limits.overlap:
            cost = costs[following - 1]
            if overlap_budget is not None and overlap_tokens + cost > overlap_budget:
                break
            overlap_tokens += cost
            following -= 1
        start = following


def _word_costs(paragraphs: list[list[str]], token_count: TokenCounter | None) -> dict[str, int]:
    distinct = list(dict.fromkeys(word for words in paragraphs for word in words))
    if token_count is None:
        return dict.fromkeys(distinct, 1)
    return dict(zip(distinct, token_count(distinct), strict=True))


def chunk_text(
    text: str,
    chunk_words: int,
    chunk_overlap: int,
    *,
    max_tokens: int | None = None,
    token_count: TokenCounter | None = None,
) -> list[str]:
    """Split ``text`` into chunks of at most ``chunk_words`` words (and ``max_tokens`` tokens).

    Paragraphs inside one chunk stay separated by a blank line; the words of a paragraph
    are joined by single spaces. Text without words gives no chunks. Without
    ``token_count`` every word counts as one token.
    """
    if chunk_words < 1:
        raise ValidationError(
            "chunk_words must be at least 1", details={"chunk_words": chunk_words}
        )
    if not 0 <= chunk_overlap < chunk_words:
        raise ValidationError(
            f"chunk_overlap ({chunk_overlap}) must be at least 0 and less than "
            f"chunk_words ({chunk_words})",
            details={"chunk_words": chunk_words, "chunk_overlap": chunk_overlap},
        )
    if max_tokens is not None and max_tokens < 1:
        raise ValidationError("max_tokens must be at least 1", details={"max_tokens": max_tokens})
    limits = _Limits(chunk_words, chunk_overlap, max_tokens)
    paragraphs = split_paragraphs(text)
    cost_of = _word_costs(paragraphs, token_count)
    chunks: list[str] = []
    pending: list[str] = []  # whole paragraphs waiting to be packed into one chunk
    pending_words = pending_tokens = 0
    for words in paragraphs:
        costs = [cost_of[word] for word in words]
        tokens = sum(costs)
        over_tokens = max_tokens is not None and pending_tokens + tokens > max_tokens
        if pending and (pending_words + len(words) > chunk_words or over_tokens):
            chunks.append("\n\n".join(pending))
            pending, pending_words, pending_tokens = [], 0, 0
        if len(words) > chunk_words or (max_tokens is not None and tokens > max_tokens):
            chunks.extend(" ".join(window) for window in _windows(words, costs, limits))
            continue
        pending.append(" ".join(words))
        pending_words += len(words)
        pending_tokens += tokens
    if pending:
        chunks.append("\n\n".join(pending))
    return chunks


@dataclass(frozen=True)
class EncodedChunks:
    """A document's chunks and, row for row, the texts to embed for them."""

    chunks: list[str]
    inputs: list[str]


def title_prefix(title: str, encoder: TextEncoder) -> tuple[str, int]:
    """The text put before every chunk when embedding it, and the tokens that costs.

    The title names what a chunk is about, which a chunk cut from the middle of a document
    no longer says; a title that would take more than ``TITLE_SHARE`` of the window is left
    out rather than crowd the chunk.
    """
    title = " ".join(title.split())
    if not title or encoder.max_tokens is None:
        return (f"{title}\n\n" if title else ""), 0
    tokens = sum(encoder.count_tokens(title.split()))
    if tokens > encoder.max_tokens * TITLE_SHARE:
        return "", 0
    return f"{title}\n\n", tokens


def chunk_for_encoder(
    title: str, text: str, chunk_words: int, chunk_overlap: int, encoder: TextEncoder
) -> EncodedChunks:
    """Chunk ``text`` so that the title and each chunk together fit ``encoder``'s window."""
    prefix, prefix_tokens = title_prefix(title, encoder)
    budget = None if encoder.max_tokens is None else encoder.max_tokens - prefix_tokens
    chunks = chunk_text(
        text, chunk_words, chunk_overlap, max_tokens=budget, token_count=encoder.count_tokens
    )
    return EncodedChunks(chunks=chunks, inputs=[prefix + chunk for chunk in chunks])
