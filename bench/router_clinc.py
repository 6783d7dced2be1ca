"""CLINC150 routing accuracy and speed of the neural router; prints one JSON object.

Trains on train.jsonl only (the threshold is cross-fitted on it), evaluates on val.jsonl
(or, with ``--holdout``, on 10 % of each label of train.jsonl held out of training):
intent accuracy, domain accuracy (the predicted intent's domain), out-of-scope recall and
precision at the calibrated threshold, single-query latency and batched throughput of the
served model (fp32; ``--int8`` evaluates an int8 copy).

    python -m bench.router_clinc [--data DIR] [--holdout] [--drop-oos] [--calibrate-on-val]
                                 [--save DIR | --checkpoint DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import torch

from bench.clinc import data_dir, domains, load, train
from smolit.agents.spec import AgentSpec
from smolit.routing.data import LabelledData, stratified_split
from smolit.routing.evaluation import (
    batched_throughput,
    classification_metrics,
    single_query_latency_ms,
)
from smolit.routing.neural.calibration import choose_threshold
from smolit.routing.neural.model import RouterModel, gated_confidence
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.online import FeedbackLearner


def routed_domain_accuracy(
    model: RouterModel, intent_domain: dict[str, str], val: LabelledData
) -> float:
    """Domains as agents with their intents as skills, routed by the served router: the
    agent with the highest fit (its skills' probabilities summed)."""
    skills: dict[str, list[str]] = defaultdict(list)
    for intent, domain in intent_domain.items():
        skills[domain].append(intent)
    router = NeuralRouter(model, FeedbackLearner(), explore=False)
    router.set_agents(
        [
            AgentSpec(name=d, description=d.replace("_", " "), skills={i: () for i in skills[d]})
            for d in sorted(skills)
        ]
    )
    rows = [e for e in val.examples if e.in_scope]
    hits = 0
    for example in rows:
        scores = router.route_sync(example.text).scores
        hits += max(scores, key=lambda s: s.score).agent == intent_domain[example.label]
    return round(hits / len(rows), 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--tuned-layers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", help="write the trained checkpoint here")
    parser.add_argument("--int8", action="store_true", help="int8 copy of the full encoder")
    parser.add_argument("--max-in-scope-loss", type=float, default=0.005)
    parser.add_argument(
        "--drop-oos",
        action="store_true",
        help="train without the oos rows of train.jsonl (a deployment with no out-of-scope "
        "examples; the evaluation keeps its oos rows)",
    )
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="evaluate on 10%% of each label (oos too) of train.jsonl, held out of training",
    )
    parser.add_argument(
        "--calibrate-on-val",
        action="store_true",
        help="train on all of train.jsonl and choose the threshold on val (the data set's "
        "protocol) instead of on a 10%% split of train",
    )
    parser.add_argument("--checkpoint", help="evaluate this checkpoint instead of training")
    args = parser.parse_args()
    path = data_dir(args.data)
    intent_domain = domains(path)
    training = load(path, "train.jsonl")
    val = load(path, "val.jsonl")
    if args.holdout:
        training, val = stratified_split(training, 0.1, seed=1)
    if args.drop_oos:
        training = training.in_scope()
    if args.checkpoint:
        model, train_seconds = RouterModel.load(Path(args.checkpoint)), None
    else:
        calibration = val if args.calibrate_on_val else None
        model, seconds = train(
            training,
            calibration,
            args.epochs,
            args.threads,
            args.layers,
            args.tuned_layers,
            args.max_in_scope_loss,
        )
        train_seconds = round(seconds, 1)
        if args.save:
            model.save(Path(args.save))
    served = model.quantized() if args.int8 else model
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    index, best, decided = served.cascade(val.texts)
    raw = [served.labels[int(i)] for i in index]
    confidence = gated_confidence(best, decided)

    def at(threshold: float) -> list[str]:
        return [p if float(c) >= threshold else "oos" for p, c in zip(raw, confidence, strict=True)]

    thresholded = at(served.threshold)
    in_scope = [(g, p) for g, p in zip(val.labels, raw, strict=True) if g != "oos"]
    # the CLINC protocol's view: the threshold chosen on val itself, by the same rule
    gold_in = torch.tensor([g != "oos" for g in val.labels])
    correct = torch.tensor([g == p for g, p in zip(val.labels, raw, strict=True)])
    val_threshold = choose_threshold(confidence[gold_in], correct[gold_in], args.max_in_scope_loss)
    at_val_threshold = at(val_threshold)
    result = {
        "data": str(path),
        "train_seconds": train_seconds,
        "intent_accuracy_no_threshold": round(sum(g == p for g, p in in_scope) / len(in_scope), 5),
        "domain_accuracy_no_threshold": round(
            sum(intent_domain[g] == intent_domain[p] for g, p in in_scope) / len(in_scope), 5
        ),
        "domain_accuracy_routed": routed_domain_accuracy(served, intent_domain, val),
        "at_served_threshold": classification_metrics(val.labels, thresholded),
        "served_threshold_from": "checkpoint"
        if args.checkpoint
        else ("val" if args.calibrate_on_val else "cross-fitted on train"),
        "evaluated_on": "10% of train held out" if args.holdout else "val",
        "trained_with_oos_rows": not args.drop_oos,
        "threshold": round(served.threshold, 5),
        "at_threshold_chosen_on_val": classification_metrics(val.labels, at_val_threshold),
        "threshold_chosen_on_val": round(val_threshold, 5),
        "static_stage_share": round(float(decided.float().mean()), 4),
        "eval_seconds": round(time.perf_counter() - started, 2),
        **single_query_latency_ms(lambda t: served.predict(t)[0], val.texts),
        "throughput_per_s": batched_throughput(
            lambda t: served.predict(t)[0], val.texts, args.threads
        ),
        "throughput_threads": args.threads,
        "max_length": model.meta.get("max_length"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
