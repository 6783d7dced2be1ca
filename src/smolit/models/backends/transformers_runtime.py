"""The pieces of a transformers generation that need torch: token capture, cancellation,
grammar-constrained logits, and turning token ids into the text a caller sees.

``transformers_local`` imports this module only when a model is loaded, so that looking the
backend up or checking a definition never imports torch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers.generation.logits_process import LogitsProcessor
from transformers.generation.stopping_criteria import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from smolit.models.grammar_guide import GrammarGuide

_END = object()


class TokenStream(BaseStreamer):
    """A ``generate(streamer=...)`` sink: records new token ids and when the first came.

    With ``live=True`` the ids are also queued so that another thread can iterate them
    while the generation runs (``__iter__``); ``fail`` hands that thread an exception.
    """

    def __init__(self, *, live: bool = False) -> None:
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.token_ids: list[int] = []
        self._seen_prompt = False
        self._queue: queue.SimpleQueue[Any] | None = queue.SimpleQueue() if live else None

    def put(self, value: torch.Tensor) -> None:
        if not self._seen_prompt:  # generate() hands over the prompt first
            self._seen_prompt = True
            return
        ids = [int(token) for token in value.reshape(-1).tolist()]
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.token_ids.extend(ids)
        if self._queue is not None:
            self._queue.put(ids)

    def end(self) -> None:
        if self._queue is not None:
            self._queue.put(_END)

    def fail(self, exc: BaseException) -> None:
        if self._queue is not None:
            self._queue.put(exc)

    @property
    def first_token_seconds(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    def __iter__(self) -> Iterator[list[int]]:
        """New token ids as they are generated, until the generation ends or fails."""
        assert self._queue is not None, "iterate a TokenStream created with live=True"
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Cancellation(StoppingCriteria):
    """Stops ``generate`` at the next token once ``cancel()`` was called (any thread)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs: Any
    ) -> torch.BoolTensor:
        flag = torch.full((input_ids.shape[0],), self._event.is_set(), dtype=torch.bool)
        return flag  # type: ignore[return-value]


def visible_text(text: str, stop: Sequence[str], *, final: bool) -> str:
    """The part of the decoded ``text`` a caller may see.

    Cut before the first stop string, leading whitespace removed; unless ``final``, text
    that may still turn out to be the start of a stop string, trailing whitespace and an
    incomplete character are held back until more tokens say what they are.
    """
    cuts = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    if cuts:
        text, final = text[: min(cuts)], True
    text = text.lstrip()
    if final:
        return text.rstrip()
    held = max(
        (n for s in stop for n in range(1, len(s)) if text.endswith(s[:n])),
        default=0,
    )
    return text[: len(text) - held].rstrip().rstrip("\ufffd")


class TextAssembler:
    """Turns the growing list of new token ids into text deltas.

    The final text is ``visible_text(decode(all ids), final=True)``, the same whether the
    answer was streamed or not; the deltas concatenate to it (should a partial decode ever
    disagree with the full one, the final event's text is the authority).
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._stop = tuple(stop)
        self.emitted = ""

    def decode(self, token_ids: list[int]) -> str:
        return str(self._tokenizer.decode(token_ids, skip_special_tokens=True))

    def stopped(self, token_ids: list[int]) -> bool:
        """Whether a stop string appears in the text so far."""
        text = self.decode(token_ids)
        return any(s and s in text for s in self._stop)

    def delta(self, token_ids: list[int], *, final: bool = False) -> str:
        visible = visible_text(self.decode(token_ids), self._stop, final=final)
        if not visible.startswith(self.emitted):
            return ""
        delta, self.emitted = visible[len(self.emitted) :], visible
        return delta

    def text(self, token_ids: list[int]) -> str:
        return visible_text(self.decode(token_ids), self._stop, final=True)


class GrammarProcessor(LogitsProcessor):
    """Masks the logits of tokens the ``GrammarGuide`` forbids (one sequence at a time).

    transformers runs custom processors before temperature and top-p, so sampling only
    ever sees tokens the grammar allows.
    """

    def __init__(self, guide: GrammarGuide, prompt_length: int) -> None:
        self._guide = guide
        self._prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError("constrained decoding handles one sequence at a time")
        self._guide.advance(input_ids[0, self._prompt_length :].tolist())
        allowed = torch.from_numpy(self._guide.allowed())
        forbidden = torch.ones(scores.shape[-1], dtype=torch.bool)
        width = min(allowed.shape[0], scores.shape[-1])
        forbidden[:width] = ~allowed[:width]
        return scores.masked_fill(forbidden, float("-inf"))  # type: ignore[return-value]
