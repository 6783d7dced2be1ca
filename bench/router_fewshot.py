"""Few-shot agents on CLINC150; prints one JSON object.

Each domain is an agent and each intent one of its skills. The router is trained with the
intents of the ``--holdout`` domains removed; those agents are then added at run time with
only ``--shots`` examples per skill (no retraining), through the router's public
``set_agents`` (what POST /agents triggers). Reported: agent (domain) and skill (intent)
accuracy on the new agents' validation tasks, and on the other agents' tasks before and
after the new ones were added.

    python -m bench.router_fewshot [--data DIR] [--holdout banking,travel] [--shots 10]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import torch

from bench.clinc import data_dir, domains, load, train
from smolit.agents.spec import AgentSpec
from smolit.routing.data import LabelledData
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.online import FeedbackLearner


def accuracy(router: NeuralRouter, rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """Share of (text, agent, skill) rows routed to the right agent and the right skill."""
    decisions = [(router.route_sync(text), agent, skill) for text, agent, skill in rows]
    agent_hits = sum(
        max(d.scores, key=lambda s: s.score).agent == agent for d, agent, _ in decisions
    )
    skill_hits = sum(d.extra["skill"] == f"{agent}/{skill}" for d, agent, skill in decisions)
    return {"agent": round(agent_hits / len(rows), 5), "skill": round(skill_hits / len(rows), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--holdout", default="banking,travel")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the router trained without the held-out domains")
    parser.add_argument("--checkpoint", help="reuse a router saved with --save")
    args = parser.parse_args()
    path = data_dir(args.data)
    intent_domain = domains(path)
    held = set(args.holdout.split(","))
    unknown = held - set(intent_domain.values())
    if unknown:
        raise SystemExit(f"unknown domains {sorted(unknown)}")
    train_all = load(path, "train.jsonl")
    visible = LabelledData(
        tuple(
            e for e in train_all.examples if e.label == "oos" or intent_domain[e.label] not in held
        )
    )
    if args.checkpoint:
        model, seconds = RouterModel.load(Path(args.checkpoint)), 0.0
    else:
        model, seconds = train(visible, None, args.epochs, args.threads)
        if args.save:
            model.save(Path(args.save))
    torch.set_num_threads(1)
    router = NeuralRouter(model, FeedbackLearner(), explore=False)
    skills: dict[str, list[str]] = defaultdict(list)
    for intent, domain in intent_domain.items():
        skills[domain].append(intent)
    old = [
        AgentSpec(name=d, description=d.replace("_", " "), skills={i: () for i in skills[d]})
        for d in sorted(skills)
        if d not in held
    ]
    router.set_agents(old)
    val = load(path, "val.jsonl")
    rows = [(e.text, intent_domain[e.label], e.label) for e in val.examples if e.in_scope]
    old_rows = [row for row in rows if row[1] not in held]
    new_rows = [row for row in rows if row[1] in held]
    before = accuracy(router, old_rows)
    rng = random.Random(args.seed)
    new = []
    for domain in sorted(held):
        examples = {
            intent: tuple(
                rng.sample([e.text for e in train_all.examples if e.label == intent], args.shots)
            )
            for intent in sorted(skills[domain])
        }
        new.append(AgentSpec(name=domain, description=domain.replace("_", " "), skills=examples))
    router.set_agents(old + new)
    result = {
        "holdout": sorted(held),
        "shots": args.shots,
        "train_seconds": round(seconds, 1),
        "new_agents_accuracy": accuracy(router, new_rows),
        "other_agents_before": before,
        "other_agents_after": accuracy(router, old_rows),
    }
    result["other_agents_change_points"] = {
        key: round(100 * (result["other_agents_after"][key] - before[key]), 2)
        for key in ("agent", "skill")
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
