"""Loading Hugging Face weights: one load at a time in a process, without progress bars.

Shared by the sentence encoders here and the model backends in ``smolit.models``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# GGUF de-quantisation patches a module attribute for a moment; loads are serialised.
_LOAD_LOCK = threading.Lock()


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide the progress bars transformers draws while loading, restoring them afterwards.

    "Loading weights" obeys transformers' own progress-bar switch, which is turned off for
    the duration of the load only. The GGUF de-quantisation bar comes from a plain ``tqdm``
    imported by ``modeling_gguf_pytorch_utils`` that ignores the switch; it is swapped for
    a silent one for the same duration.
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    original = getattr(gguf_utils, "tqdm", None)
    if bars_were_on:
        hf_logging.disable_progress_bar()
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        if bars_were_on:
            hf_logging.enable_progress_bar()


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Serialise a model load (or save) and hide its progress bars."""
    with _LOAD_LOCK, _quiet_progress():
        yield
