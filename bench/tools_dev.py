"""The tool selector's development sets: where its default threshold comes from.

Two sets, neither from any tool-calling benchmark:

- ``handwritten``: 30 tools (``bench/data/tools_dev.json``) with three hand-written
  requests each, in styles unlike the tool descriptions (terse, chatty, with numbers and
  names);
- ``clinc``: the 120 task intents of CLINC150's eight task domains as tools, each with a
  one-line description written for it (``bench/data/clinc_tools.json``), and CLINC150's
  validation utterances of those intents (20 each) as requests.

Irrelevant requests for both: CLINC150's out-of-scope rows (train and val, 200), each
offered one tool drawn at random; and near misses, each relevant request offered only the
*most similar other* tool of its set (a loan request with the compound-interest tool; in
CLINC, ``balance`` with ``bill_balance``: some of these are arguably relevant, so read the
figure as a lower bound).

A tool's score does not depend on which other tools are offered (the request's background
is the fixed bank of generic tools), so one score matrix per set answers everything:
top-1 accuracy with the whole set offered, the threshold that keeps ``RELEVANT_KEPT`` of
relevant requests offered their own tool alone (``choose_threshold``, as the router
calibrates), and the abstention on both irrelevant kinds at that threshold and at the
shipped default.

    python -m bench.tools_dev [--clinc DIR] [--encoder minilm|minilm-int8]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import torch

from bench.clinc import DATA
from bench.tool_encoders import ENCODERS, tool_encoder
from smolit.routing.neural.calibration import choose_threshold
from smolit.routing.tool_selection import DEFAULT_THRESHOLD, ToolSelector
from smolit.tools.base import ToolSpec

HERE = Path(__file__).resolve().parent / "data"
RELEVANT_KEPT = 0.98
Requests = list[tuple[str, str]]  # (request, the tool that fits it)


def handwritten() -> tuple[list[ToolSpec], Requests]:
    rows = json.loads((HERE / "tools_dev.json").read_text(encoding="utf-8"))
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
    return specs, [(text, row["name"]) for row in rows for text in row["requests"]]


def _rows(clinc: Path, *names: str) -> list[dict[str, str]]:
    return [
        json.loads(line)
        for name in names
        for line in (clinc / name).read_text(encoding="utf-8").splitlines()
    ]


def clinc_tools(clinc: Path) -> tuple[list[ToolSpec], Requests]:
    described = json.loads((HERE / "clinc_tools.json").read_text(encoding="utf-8"))
    specs = [ToolSpec(name, text) for name, text in described.items()]
    requests = [
        (r["text"], r["label"]) for r in _rows(clinc, "val.jsonl") if r["label"] in described
    ]
    return specs, requests


def evaluate(
    selector: ToolSelector, specs: list[ToolSpec], requests: Requests, unrelated: list[str]
) -> dict[str, Any]:
    selector.set_tools(specs)
    names = selector.tool_names
    right = torch.tensor([names.index(tool) for _, tool in requests])
    rows = torch.arange(len(requests))
    scores = selector.scores_sync([text for text, _ in requests])
    own = scores[rows, right]
    others = scores.clone()
    others[rows, right] = float("-inf")
    near = others.max(dim=1).values
    rng = random.Random(0)
    drawn = torch.tensor([rng.randrange(len(names)) for _ in unrelated])
    far = selector.scores_sync(unrelated)[torch.arange(len(unrelated)), drawn]
    fitted = choose_threshold(own, torch.ones_like(own, dtype=torch.bool), 1 - RELEVANT_KEPT)

    def at(threshold: float) -> dict[str, float]:
        return {
            "threshold": round(threshold, 3),
            "relevant_kept": round(float((own >= threshold).float().mean()), 4),
            "near_miss_abstention": round(float((near < threshold).float().mean()), 4),
            "unrelated_abstention": round(float((far < threshold).float().mean()), 4),
        }

    return {
        "tools": len(specs),
        "requests": len(requests),
        "top1_accuracy_all_tools": round(float((scores.argmax(dim=1) == right).float().mean()), 4),
        "relevant_score_quantiles": {
            f"{q:.2f}": round(float(own.quantile(q)), 3) for q in (0.01, 0.02, 0.05, 0.5)
        },
        "fitted": at(fitted),
        "default": at(DEFAULT_THRESHOLD),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinc", default=str(DATA), help="the CLINC150 data directory")
    parser.add_argument("--encoder", choices=ENCODERS, default="minilm", help="selector's encoder")
    args = parser.parse_args()
    clinc = Path(args.clinc)
    unrelated = [r["text"] for r in _rows(clinc, "train.jsonl", "val.jsonl") if r["label"] == "oos"]
    encoder = tool_encoder(args.encoder)
    report: dict[str, Any] = {}
    for style, with_parameters in (("with_parameters", True), ("description_only", False)):
        selector = ToolSelector(encoder, with_parameters=with_parameters)
        report[style] = {
            "handwritten": evaluate(selector, *handwritten(), unrelated),
            "clinc": evaluate(selector, *clinc_tools(clinc), unrelated),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
