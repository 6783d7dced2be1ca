"""The tool selector's development set: where its default threshold comes from.

30 hand-written tools (``bench/data/tools_dev.json``), three hand-written requests each,
in styles unlike the tool descriptions (terse, chatty, with numbers and names), and two
kinds of requests no offered tool fits:

- near misses: each request offered only the *most similar other* tool of the set (a loan
  request with the compound-interest tool, a flight with the hotel search); this is the
  hardest case there is for a similarity-based selector;
- unrelated: CLINC150's out-of-scope requests (train and val, 200), each offered one tool
  of the set drawn at random.

Prints one JSON object per prototype style (with and without the parameters' names and
descriptions): top-1 accuracy with all 30 tools offered, the threshold that keeps 98 % of
relevant requests when each is offered its own tool alone (``choose_threshold`` with a
2 % in-scope loss, as the router calibrates), and the abstention on both irrelevant kinds
at that threshold and at the shipped default.

    python -m bench.tools_dev [--clinc DIR]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import torch

from bench.clinc import DATA
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.routing.neural.calibration import choose_threshold
from smolit.routing.tool_selection import DEFAULT_THRESHOLD, ToolSelector
from smolit.tools.base import ToolSpec

TOOLS = Path(__file__).resolve().parent / "data" / "tools_dev.json"
RELEVANT_KEPT = 0.98


def load_tools() -> tuple[list[ToolSpec], list[tuple[str, str]]]:
    """The tools and (request, right tool) pairs of the development set."""
    rows = json.loads(TOOLS.read_text(encoding="utf-8"))
    specs = [
        ToolSpec(
            row["name"],
            row["description"],
            {
                "type": "object",
                "properties": {
                    key: {"type": "string", "description": text}
                    for key, text in row["parameters"].items()
                },
                "required": row["required"],
            },
        )
        for row in rows
    ]
    requests = [(text, row["name"]) for row in rows for text in row["requests"]]
    return specs, requests


def out_of_scope(clinc: Path) -> list[str]:
    texts = []
    for name in ("train.jsonl", "val.jsonl"):
        for line in (clinc / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["label"] == "oos":
                texts.append(row["text"])
    return texts


def evaluate(selector: ToolSelector, clinc: Path) -> dict[str, Any]:
    specs, requests = load_tools()
    selector.set_tools(specs)
    names = [spec.name for spec in specs]
    top1 = [selector.select_sync(text, k=2) for text, _ in requests]
    hits = sum(s.best is not None and s.best.tool == right for s, (_, right) in zip(top1, requests))
    own = torch.tensor([selector.select_sync(text, [right]).best.score for text, right in requests])  # type: ignore[union-attr]
    near = []
    for text, right in requests:
        others = [name for name in names if name != right]
        closest = selector.select_sync(text, others, k=1).best
        assert closest is not None
        near.append(selector.select_sync(text, [closest.tool]).best.score)  # type: ignore[union-attr]
    rng = random.Random(0)
    unrelated = torch.tensor(
        [selector.select_sync(text, [rng.choice(names)]).best.score for text in out_of_scope(clinc)]  # type: ignore[union-attr]
    )
    near_scores = torch.tensor(near)
    fitted = choose_threshold(own, torch.ones_like(own, dtype=torch.bool), 1 - RELEVANT_KEPT)

    def at(threshold: float) -> dict[str, float]:
        return {
            "threshold": round(threshold, 3),
            "relevant_kept": round(float((own >= threshold).float().mean()), 4),
            "near_miss_abstention": round(float((near_scores < threshold).float().mean()), 4),
            "unrelated_abstention": round(float((unrelated < threshold).float().mean()), 4),
        }

    return {
        "tools": len(specs),
        "requests": len(requests),
        "top1_accuracy_all_tools": round(hits / len(requests), 4),
        "fitted": at(fitted),
        "default": at(DEFAULT_THRESHOLD),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinc", default=str(DATA), help="CLINC150 directory (oos rows)")
    args = parser.parse_args()
    encoder = SentenceTransformerEncoder()
    report = {
        style: evaluate(ToolSelector(encoder, with_parameters=with_parameters), Path(args.clinc))
        for style, with_parameters in (("with_parameters", True), ("description_only", False))
    }
    print(json.dumps(report, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
