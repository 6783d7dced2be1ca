"""A tokenizer with one token per byte and an end-of-sequence token, for grammar tests
that need a real llguidance tokenizer but no model (built in milliseconds)."""

from functools import cache

import llguidance
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

EOS = "<eos>"


@cache
def byte_tokenizer() -> Tokenizer:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    vocab[EOS] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([EOS])
    return tokenizer


@cache
def byte_lltokenizer() -> llguidance.LLTokenizer:
    tokenizer = byte_tokenizer()
    return llguidance.LLTokenizer(tokenizer.to_str(), eos_token=tokenizer.token_to_id(EOS))


def encode(text: str) -> list[int]:
    return list(byte_tokenizer().encode(text, add_special_tokens=False).ids)


def eos_id() -> int:
    token = byte_tokenizer().token_to_id(EOS)
    assert token is not None
    return int(token)
