"""GGUF models run by llama.cpp through llama-cpp-python (the optional ``llamacpp`` extra).

Quantised weights stay quantised and memory-mapped, so a model takes about its file size
in memory (plus the context's key/value cache), where the transformers backend holds a
float32 copy. ``definition.path`` is a ``.gguf`` file or ``"bundled"`` (SmolLM2).

llama_cpp is imported only when a model is loaded. Its default build can crash on CPUs
with AMX; docs/model-backends.md gives the build flags that work.

Tools are always offered in the Hermes format of ``models/tool_prompt.py`` (the messages
handed to llama.cpp's chat formatter carry them as text), and calls are decoded under
the llguidance grammar of ``models/tool_grammar.py`` through a logits processor, with
llguidance's own llama.cpp tokenizer integration; ``options.tool_call_decoding: free``
turns the grammar off. With tools, ``stream`` generates the whole answer first.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import llguidance

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.model_guard import check_model_loading
from smolit.models.backends.transformers_local import BUNDLED, bundled_model_path
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.grammar_guide import ArrayGrammarProcessor, GrammarGuide
from smolit.models.hf_loading import GGUFInfo, read_gguf
from smolit.models.local_tools import (
    ToolCallDecoding,
    call_grammar,
    check_tool_options,
    read_completion,
    tool_call_decoding,
    uses_tools,
)
from smolit.models.tool_prompt import hermes_messages

logger = logging.getLogger(__name__)

INSTALL = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON '
    "-DGGML_BMI2=ON -DLLAVA_BUILD=OFF\" pip install --no-cache-dir '.[llamacpp]'"
)
NOT_INSTALLED = (
    "the llamacpp backend needs llama-cpp-python: pip install '.[llamacpp]' with "
    f"CMAKE_ARGS=... see docs/model-backends.md (`{INSTALL}`)"
)
DEFAULT_CONTEXT = 2048
DEFAULT_THREADS = 1
KV_CACHE_BYTES = 2  # llama.cpp keeps keys and values as float16 by default


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def resolve_gguf_path(definition: ModelDefinition) -> Path:
    """The GGUF file to load; ``ModelError`` naming it when it is missing."""
    if not definition.path:
        raise ConfigError("the llamacpp backend needs path ('bundled' or a .gguf file)")
    if definition.path == BUNDLED:
        return bundled_model_path()
    path = Path(definition.path).expanduser()
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist", details={"path": str(path)})
    return path


def chat_request(messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
    """The ``create_chat_completion`` arguments for ``messages`` (tools, earlier calls and
    their results in the Hermes format) and the sampling options of ``params``."""
    tools = params.tools if uses_tools(params) else ()
    if tools or any(m.role == "tool" or m.tool_calls for m in messages):
        turns: list[dict[str, str]] = hermes_messages(messages, tools, params.tool_choice)
    else:
        turns = [{"role": m.role, "content": m.content} for m in messages]
    return {
        "messages": turns,
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": 0,  # off, like the other backends: temperature and top_p only
        "min_p": 0.0,
        "repeat_penalty": params.repetition_penalty,
        "stop": list(params.stop),
    }


def kv_cache_bytes(info: GGUFInfo, context: int) -> int:
    """The key/value cache of ``context`` tokens, from the model's shape in its header."""
    arch = info.metadata.get("general.architecture")
    layers = info.integer(f"{arch}.block_count")
    width = info.integer(f"{arch}.embedding_length")
    heads = info.integer(f"{arch}.attention.head_count")
    kv_heads = info.integer(f"{arch}.attention.head_count_kv") or heads
    if not (layers and width and heads and kv_heads):
        return 0
    return 2 * context * layers * (width * kv_heads // heads) * KV_CACHE_BYTES


class LlamaCppBackend(ModelBackend):
    """One llama.cpp model; generations are serialised (a context serves one at a time)."""

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        super().__init__(name, definition)
        self.decoding: ToolCallDecoding = tool_call_decoding(definition)
        self._lltokenizer: llguidance.LLTokenizer | None = None
        if not llama_cpp_installed():
            raise ConfigError(f"model {name!r}: {NOT_INSTALLED}", details={"install": INSTALL})
        self.path = resolve_gguf_path(definition)
        try:
            self._info = read_gguf(self.path)
        except ModelError as exc:
            raise ModelError(
                f"model {name!r}: cannot load {self.path}: it {exc.details['reason']}",
                details={"model": name, **exc.details},
            ) from exc
        self.context = definition.context_length or DEFAULT_CONTEXT
        started = time.perf_counter()
        check_model_loading(f"llama.cpp model {self.path}")
        from llama_cpp import Llama

        threads = definition.threads or DEFAULT_THREADS
        try:
            self._llm: Any = Llama(
                model_path=str(self.path),
                n_ctx=self.context,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as ValueError or RuntimeError
            raise ModelError(
                f"model {name!r}: llama.cpp cannot load {self.path}: {exc}",
                details={"model": name, "path": str(self.path)},
            ) from exc
        self._lock = threading.Lock()
        logger.info(
            "loaded model %r from %s in %.1fs", name, self.path, time.perf_counter() - started
        )

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        problem = check_tool_options(definition)
        if problem is not None:
            return problem
        if not llama_cpp_installed():
            return NOT_INSTALLED
        try:
            path = resolve_gguf_path(definition)
            read_gguf(path)
        except (ModelError, ConfigError) as exc:
            return exc.message
        return None

    @classmethod
    def estimate_memory_bytes(cls, definition: ModelDefinition) -> int:
        """The file (memory-mapped weights) plus the key/value cache of the context."""
        try:
            path = resolve_gguf_path(definition)
            info = read_gguf(path)
        except (ModelError, ConfigError, OSError):
            return 0
        context = definition.context_length or DEFAULT_CONTEXT
        return path.stat().st_size + kv_cache_bytes(info, context)

    def memory_bytes(self) -> int:
        return self.path.stat().st_size + kv_cache_bytes(self._info, self.context)

    def _options(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        options = chat_request(messages, params)
        grammar = call_grammar(params, self.decoding)
        if grammar is not None:
            from llama_cpp import LogitsProcessorList

            guide = GrammarGuide(self._guidance_tokenizer(), grammar)
            options["logits_processor"] = LogitsProcessorList([ArrayGrammarProcessor(guide)])
        return options

    def _guidance_tokenizer(self) -> llguidance.LLTokenizer:
        """The model's vocabulary for llguidance, built on first use (about a second);
        every end-of-generation token may end a completion."""
        if self._lltokenizer is None:
            import llama_cpp
            from llguidance.llamacpp import lltokenizer_from_vocab

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            ends = [
                token
                for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if llama_cpp.llama_vocab_is_eog(vocab, token)
            ]
            self._lltokenizer = lltokenizer_from_vocab(vocab, eos_token=ends or None)
        return self._lltokenizer

    def _failure(self, exc: Exception) -> ModelError:
        return ModelError(
            f"model {self.name!r}: llama.cpp failed: {type(exc).__name__}: {exc}",
            details={"model": self.name},
        )

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        """Answer; with tools, the calls the model proposes are in ``tool_calls``."""
        with self._lock:
            started = time.perf_counter()
            try:
                answer = self._llm.create_chat_completion(**self._options(messages, params))
            except (ValueError, RuntimeError) as exc:
                raise self._failure(exc) from exc
            seconds = time.perf_counter() - started
        choice = answer["choices"][0]
        usage = answer.get("usage") or {}
        finish = str(choice.get("finish_reason") or "stop")
        text = (choice["message"].get("content") or "").strip()
        completion = read_completion(text, params, cut=finish == "length")
        return GenerationResult(
            text=completion.text,
            model=self.name,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
            finish_reason=completion.finish_reason(finish),
            tool_calls=completion.tool_calls,
        )

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        """Chunks as llama.cpp samples them; closing the iterator stops the sampling.

        llama.cpp's stream carries no usage: completion tokens are the text re-tokenised.
        With tools, the whole answer is generated first (see the module doc).
        """
        if uses_tools(params):
            yield from super().stream(messages, params)
            return
        with self._lock:
            started = time.perf_counter()
            first: float | None = None
            raw, text, finish = "", "", "stop"
            chunks = self._llm.create_chat_completion(
                **self._options(messages, params), stream=True
            )
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    raw += choice.get("delta", {}).get("content") or ""
                    # outer whitespace is held back, as generate() strips it
                    delta, text = raw.strip()[len(text) :], raw.strip()
                    if delta:
                        first = first or time.perf_counter() - started
                        yield StreamEvent(delta)
            except (ValueError, RuntimeError) as exc:
                raise self._failure(exc) from exc
            finally:
                chunks.close()
            tokens = len(self._llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
        yield StreamEvent(
            "",
            GenerationResult(
                text=text,
                model=self.name,
                completion_tokens=tokens,
                seconds=time.perf_counter() - started,
                finish_reason=str(finish),
                first_token_seconds=first,
            ),
        )

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None and hasattr(llm, "close"):
            llm.close()
