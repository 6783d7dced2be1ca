"""Split document text into word-window chunks that follow paragraph boundaries.

Whole paragraphs are packed into a chunk while they fit in ``chunk_words``; a paragraph
longer than that is cut into windows of ``chunk_words`` words, each repeating the last
``chunk_overlap`` words of the one before, so no sentence is lost at a cut.
"""

from __future__ import annotations

import re

from smolit.errors import ValidationError

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def split_paragraphs(text: str) -> list[list[str]]:
    """The paragraphs of ``text`` (separated by blank lines), each as a list of words."""
    paragraphs = (part.split() for part in _PARAGRAPH_BREAK.split(text))
    return [words for words in paragraphs if words]


def _windows(words: list[str], chunk_words: int, chunk_overlap: int) -> list[list[str]]:
    step = chunk_words - chunk_overlap
    windows = []
    for start in range(0, len(words), step):
        windows.append(words[start : start + chunk_words])
        if start + chunk_words >= len(words):
            break
    return windows


def chunk_text(text: str, chunk_words: int, chunk_overlap: int) -> list[str]:
    """Split ``text`` into chunks of at most ``chunk_words`` words.

    Paragraphs inside one chunk stay separated by a blank line; the words of a paragraph
    are joined by single spaces. Text without words gives no chunks.
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
    chunks: list[str] = []
    pending: list[str] = []  # whole paragraphs waiting to be packed into one chunk
    pending_words = 0
    for words in split_paragraphs(text):
        if pending and pending_words + len(words) > chunk_words:
            chunks.append("\n\n".join(pending))
            pending, pending_words = [], 0
        if len(words) > chunk_words:
            chunks.extend(" ".join(w) for w in _windows(words, chunk_words, chunk_overlap))
            continue
        pending.append(" ".join(words))
        pending_words += len(words)
    if pending:
        chunks.append("\n\n".join(pending))
    return chunks
