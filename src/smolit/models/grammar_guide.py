"""Grammar-constrained decoding with llguidance: which tokens may come next.

A ``GrammarGuide`` follows one generation: it is handed the ids generated so far before
each step (``advance``) and answers with the tokens the grammar allows (``allowed``), a
boolean array over the vocabulary. Backends turn that into a logits processor: the
transformers one is in ``backends/transformers_runtime.py`` (torch), the llama.cpp one
(numpy) is ``ArrayGrammarProcessor`` here. When the grammar is complete only the
end-of-sequence token is allowed, so the model stops there.

The ``LLTokenizer`` the guide needs is built once per loaded model (about a second):
``llguidance.hf.from_tokenizer`` for a transformers tokenizer,
``llguidance.llamacpp.lltokenizer_from_vocab`` for a llama.cpp model.
"""

from __future__ import annotations

from collections.abc import Sequence

import llguidance
import numpy as np
import numpy.typing as npt

from smolit.errors import ModelError, ValidationError

__all__ = ["ArrayGrammarProcessor", "GrammarGuide", "compile_grammar"]


def compile_grammar(tokenizer: llguidance.LLTokenizer, lark: str) -> str:
    """``lark`` as an llguidance grammar, checked against ``tokenizer``; a
    ``ValidationError`` naming the problem when llguidance refuses it (a tool schema it
    cannot compile, say)."""
    try:
        grammar = llguidance.LLMatcher.grammar_from_lark(lark)
    except ValueError as exc:
        raise ValidationError(f"the tool-call grammar does not compile: {exc}") from exc
    failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
    if failed:
        raise ValidationError(
            f"the tool-call grammar does not compile: {'; '.join(messages)}",
            details={"errors": messages},
        )
    return grammar


class GrammarGuide:
    """The tokens one generation may produce next under one grammar."""

    def __init__(self, tokenizer: llguidance.LLTokenizer, lark: str) -> None:
        self._matcher = llguidance.LLMatcher(
            tokenizer, compile_grammar(tokenizer, lark), log_level=0
        )
        if self._matcher.is_error():
            raise ValidationError(
                f"the tool-call grammar does not compile: {self._matcher.get_error()}"
            )
        self.vocab_size = int(tokenizer.vocab_size)
        self._consumed = 0
        self._bitmask = np.zeros((self.vocab_size + 31) // 32, dtype=np.int32)
        self._bits = np.arange(32, dtype=np.int32)

    @property
    def finished(self) -> bool:
        """Whether the grammar is complete and nothing more may be generated."""
        return bool(self._matcher.is_stopped())

    def advance(self, generated: Sequence[int]) -> None:
        """Take in the ids generated since the last call (``generated`` is all of them)."""
        for token in generated[self._consumed :]:
            if self._matcher.is_stopped():
                break  # the end-of-sequence token that closed the grammar
            if not self._matcher.consume_token(int(token)):
                raise ModelError(
                    f"constrained decoding failed: token {int(token)} breaks the grammar "
                    f"({self._matcher.get_error()})"
                )
        self._consumed = len(generated)

    def allowed(self) -> npt.NDArray[np.bool_]:
        """One flag per vocabulary entry: whether that token may come next."""
        mask = self._bitmask
        self._matcher.unsafe_compute_mask_ptr(mask.ctypes.data, mask.size * mask.itemsize)
        if self._matcher.is_error():
            raise ModelError(f"constrained decoding failed: {self._matcher.get_error()}")
        bits = (mask[:, None] >> self._bits) & 1
        flags: npt.NDArray[np.bool_] = bits.reshape(-1)[: self.vocab_size].astype(bool)
        return flags


class ArrayGrammarProcessor:
    """A llama.cpp logits processor (``(input_ids, scores) -> scores`` on numpy arrays)
    that sets the scores of forbidden tokens to minus infinity.

    ``input_ids`` holds the prompt and the tokens generated so far; the prompt is what it
    holds on the first call, which comes before the first token is sampled.
    """

    def __init__(self, guide: GrammarGuide) -> None:
        self._guide = guide
        self._prompt_length: int | None = None

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if self._prompt_length is None:
            self._prompt_length = len(input_ids)
        self._guide.advance(input_ids[self._prompt_length :].tolist())
        allowed = self._guide.allowed()
        forbidden = np.ones(scores.shape[-1], dtype=bool)
        width = min(allowed.shape[0], scores.shape[-1])
        forbidden[:width] = ~allowed[:width]
        masked = scores.copy()
        masked[..., forbidden] = -np.inf
        return masked
