"""Tool selection and tool calling on the Berkeley Function Calling Leaderboard data.

    python -m bench.tools_bfcl --data DIR --categories simple_python,multiple,parallel,irrelevance
                               [--limit N] [--mode router|full|baseline] [--json]
                               [--k 3] [--tokens 256] [--encoder minilm|minilm-int8]

DIR is laid out as the ``bfcl-eval`` wheel's ``bfcl_eval/data`` (``BFCL_v4_<category>.json``
and ``possible_answer/BFCL_v4_<category>.json``). Prints one JSON object keyed by category:
``n``, ``accuracy`` and ``latency_ms_p50``; in the router mode ``selection_accuracy``,
``irrelevance_accuracy``, ``abstained`` and ``shortlist_recall``; in the model modes
``calls`` and ``schema_valid``. A category this benchmark cannot run (multi-turn, no inline
functions, a missing file) gets ``{"error": ...}`` and the others still run.

These files are a test: nothing in the selector (threshold, prompt, rule, bank) is fitted
to them. See docs/tools.md and docs/benchmarks in docs/router.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.bfcl.data import UnsupportedCategory, available_categories, language, load_category
from bench.bfcl.modes import Generate, Mode, run_model, run_router
from bench.tool_encoders import ENCODERS, tool_encoder
from smolit.routing.tool_selection import DEFAULT_SHORTLIST, ToolSelector

DEFAULT_CATEGORIES = "simple_python,multiple,parallel,irrelevance"
#: how ``full`` and ``baseline`` ask the transformers backend to decode calls
DECODING = {"full": "constrained", "baseline": "free"}


def model_generate(mode: Mode) -> Generate:
    """The bundled SmolLM2 on the transformers backend, decoding calls as ``mode`` asks."""
    from smolit.config import ModelDefinition
    from smolit.models.backends.transformers_local import TransformersBackend

    backend = TransformersBackend(
        "smollm2",
        ModelDefinition(
            backend="transformers",
            path="bundled",
            threads=1,
            options={"tool_call_decoding": DECODING[mode]},
        ),
    )
    return backend.generate


def run(
    data: Path,
    categories: list[str],
    mode: Mode,
    limit: int | None,
    k: int,
    tokens: int,
    encoder: str = "minilm",
) -> dict[str, Any]:
    selector = ToolSelector(tool_encoder(encoder), k=k)
    generate = model_generate(mode) if mode != "router" else None
    report: dict[str, Any] = {}
    for category in categories:
        try:
            entries = load_category(data, category, limit)
            if generate is None:
                report[category] = run_router(category, entries, selector)
            elif language(category) != "python" and not category.endswith("irrelevance"):
                raise UnsupportedCategory(
                    f"AST matching of {language(category)} values is not implemented "
                    "(the router mode runs this category)"
                )
            else:
                report[category] = run_model(
                    category, entries, mode, generate, selector if mode == "full" else None, tokens
                )
        except UnsupportedCategory as exc:
            report[category] = {"error": str(exc)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the wheel's bfcl_eval/data layout")
    parser.add_argument("--categories", default=DEFAULT_CATEGORIES, help="comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="first N entries per category")
    parser.add_argument("--mode", choices=("router", "full", "baseline"), default="router")
    parser.add_argument("--k", type=int, default=DEFAULT_SHORTLIST, help="shortlist size")
    parser.add_argument("--tokens", type=int, default=256, help="max new tokens (model modes)")
    parser.add_argument("--encoder", choices=ENCODERS, default="minilm", help="selector's encoder")
    parser.add_argument("--json", action="store_true", help="one JSON object (the default)")
    args = parser.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"{data} is not a directory")
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    if not categories:
        sys.exit(f"no categories given; {data} has: {', '.join(available_categories(data))}")
    if args.limit is not None and args.limit < 1:
        sys.exit("--limit must be at least 1")
    report = run(data, categories, args.mode, args.limit, args.k, args.tokens, args.encoder)
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
