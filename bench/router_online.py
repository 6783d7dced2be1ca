"""Simulated feedback loop for the online router learner (``smolit.routing.online``).

Ten task domains (the context of a task is its domain) and twelve agents: one specialist
per domain (hidden success rate 0.9 on its domain, 0.2 elsewhere) and two generalists
(0.65 everywhere). The router's ``p_fit`` for a task is drawn per task from a Dirichlet
that favours the domain's specialist, gives the generalists some weight and the other
specialists a little noise. Halfway through, the specialists of three domains start
failing (0.2) and a new agent appears that is better (0.95) than the incumbent on two
other domains, with a ``p_fit`` comparable to the incumbent's there.

Three policies see the same tasks: oracle (best hidden rate at that time), frozen
(argmax ``p_fit``, never learns) and online (``FeedbackLearner``, fed each outcome).
Regret is expected regret against the oracle (hidden rates, not draws). Prints one JSON
object; ``python bench/router_online.py --help`` for options.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import asdict, replace
from typing import Any

from smolit.routing.online import FeedbackLearner, OnlineSettings

DOMAINS = 10
GENERALISTS = ("generalist-0", "generalist-1")
NEW_AGENT = "newcomer"
FAILING = (0, 1, 2)
IMPROVED = (3, 4)
# Dirichlet concentrations of p_fit: the domain's specialist (and the newcomer on the
# domains it improves), the generalists, every other agent.
ALPHA_OWN, ALPHA_GENERALIST, ALPHA_NOISE = 10.0, 4.0, 0.3


def specialist(domain: int) -> str:
    return f"specialist-{domain}"


def hidden_rates(changed: bool) -> dict[str, list[float]]:
    """Each agent's true success rate per domain, before or after the change."""
    rates = {
        specialist(d): [0.9 if e == d else 0.2 for e in range(DOMAINS)] for d in range(DOMAINS)
    }
    for name in GENERALISTS:
        rates[name] = [0.65] * DOMAINS
    if changed:
        for d in FAILING:
            rates[specialist(d)][d] = 0.2
        rates[NEW_AGENT] = [0.95 if d in IMPROVED else 0.2 for d in range(DOMAINS)]
    return rates


def sample_fit(rng: random.Random, domain: int, agents: list[str]) -> dict[str, float]:
    """One task's router output: a Dirichlet draw favouring the domain's specialist."""

    def alpha(agent: str) -> float:
        if agent == specialist(domain) or (agent == NEW_AGENT and domain in IMPROVED):
            return ALPHA_OWN
        return ALPHA_GENERALIST if agent in GENERALISTS else ALPHA_NOISE

    draws = {a: rng.gammavariate(alpha(a), 1.0) for a in agents}
    total = sum(draws.values())
    return {a: g / total for a, g in draws.items()}


def run_seed(seed: int, tasks: int, window: int, settings: OnlineSettings) -> dict[str, Any]:
    """One run of the three policies on the same task stream."""
    half = tasks // 2
    task_rng = random.Random(seed)
    draw_rng = {p: random.Random(f"{seed}-{p}") for p in ("oracle", "frozen", "online")}
    learner = FeedbackLearner(settings, rng=random.Random(f"{seed}-learner"))
    regret = {"frozen": [0.0], "online": [0.0]}
    successes = dict.fromkeys(draw_rng, 0)
    explored = 0
    cost_ns: list[int] = []
    for t in range(tasks):
        rates = hidden_rates(changed=t >= half)
        domain = task_rng.randrange(DOMAINS)
        p_fit = sample_fit(task_rng, domain, list(rates))
        context = f"domain-{domain}"
        start = time.perf_counter_ns()
        choice = learner.choose(p_fit, context)
        cost_ns.append(time.perf_counter_ns() - start)
        explored += choice.explored
        picks = {
            "oracle": max(rates, key=lambda a: rates[a][domain]),
            "frozen": max(p_fit, key=p_fit.__getitem__),
            "online": choice.agent,
        }
        best = rates[picks["oracle"]][domain]
        for policy, agent in picks.items():
            rate = rates[agent][domain]
            success = draw_rng[policy].random() < rate
            successes[policy] += success
            if policy in regret:
                regret[policy].append(regret[policy][-1] + best - rate)
            if policy == "online":
                learner.record(agent, context, float(success))
    summary: dict[str, Any] = {}
    for policy, cumulative in regret.items():
        summary[policy] = {
            "mid": cumulative[half],
            "end": cumulative[tasks],
            "slope_second_half": (cumulative[tasks] - cumulative[half]) / (tasks - half),
            "slope_after_window": (cumulative[tasks] - cumulative[half + window])
            / (tasks - half - window),
        }
    summary["success_rate"] = {p: n / tasks for p, n in successes.items()}
    summary["explore_share"] = explored / tasks
    summary["choose_us_median"] = statistics.median(cost_ns) / 1000
    return summary


def average(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of every number in the (nested) run summaries."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: average([r[k] for r in runs]) for k in first}
    return round(statistics.fmean(runs), 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs to average (default 5)")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per run (default 10000)")
    parser.add_argument(
        "--window", type=int, default=None, help="adaptation window after the change (tasks/20)"
    )
    defaults = OnlineSettings()
    for name in ("forgetting", "plausibility", "fit_weight", "shrinkage"):
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name)
        )
    args = parser.parse_args()
    settings = replace(
        defaults,
        forgetting=args.forgetting,
        plausibility=args.plausibility,
        fit_weight=args.fit_weight,
        shrinkage=args.shrinkage,
    )
    window = args.window if args.window is not None else args.tasks // 20
    runs = [run_seed(seed, args.tasks, window, settings) for seed in range(args.seeds)]
    result = average(runs)
    frozen, online = result["frozen"], result["online"]
    result["slope_ratio"] = {
        key: round(online[key] / frozen[key], 4) if frozen[key] else None
        for key in ("slope_second_half", "slope_after_window")
    }
    result["target_ratio_met"] = result["slope_ratio"]["slope_second_half"] is not None and (
        result["slope_ratio"]["slope_second_half"] <= 0.5
    )
    config = {"seeds": args.seeds, "tasks": args.tasks, "change_at": args.tasks // 2}
    config["window"] = window
    print(json.dumps({"config": config, "settings": asdict(settings), **result}, indent=2))


if __name__ == "__main__":
    main()
