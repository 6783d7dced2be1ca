"""The encoders the tool-selection benchmarks can run the selector on.

- ``minilm``: the shared sentence encoder (all-MiniLM-L6-v2 through sentence-transformers),
  the one the rest of the system embeds with;
- ``minilm-int8``: the same weights as the router's own encoder class with int8 dynamic
  quantisation of its linear layers and requests cut at 128 word pieces: about three times
  faster on one CPU thread, with vectors within a cosine of about 0.96 of the full ones.
"""

from __future__ import annotations

from smolit.encoding.base import TextEncoder
from smolit.encoding.sentence import SentenceTransformerEncoder, bundled_minilm_path
from smolit.routing.neural.encoder_net import MiniEncoder

ENCODERS = ("minilm", "minilm-int8")


def tool_encoder(name: str) -> TextEncoder:
    if name == "minilm":
        return SentenceTransformerEncoder()
    if name == "minilm-int8":
        return MiniEncoder.from_pretrained(bundled_minilm_path(), 6, 128).quantized()
    raise ValueError(f"encoder {name!r}: use one of {', '.join(ENCODERS)}")
