"""Online learning from task feedback, with exploration.

The router says how well a task *fits* each agent (``p_fit``); this module learns how often
each agent actually *succeeds*, per context (the task's skill label), from the feedback
users send on finished tasks, and combines the two when choosing an agent::

    score(a) = (p_fit(a) / max p_fit) ** fit_weight * theta(a)

over the plausible candidates (``p_fit(a) >= plausibility * max p_fit``), where ``theta(a)``
is the agent's success rate in the context: a Thompson sample from its posterior when
exploring, its posterior mean otherwise.

Evidence is a pair of decayed pseudo-counts (successes, failures) per (context, agent) and
per agent across contexts. A context's posterior is Beta(s + k·m, f + k·(1 − m)) where
``m`` is the agent's global posterior mean (itself shrunk toward a neutral prior) and
``k = min(shrinkage, evidence behind m)``: a context with little evidence starts from what
the agent does elsewhere, and an agent never seen starts from the neutral prior.

Exploration and a confident router: Thompson sampling is used only when at least one
candidate has evidence. With no feedback at all every candidate has the same neutral
posterior, so a sample would only reorder them at random, overriding the router for
nothing: the posterior means are used instead, and the choice is argmax ``p_fit``. Once
any candidate has evidence, every candidate is sampled, including those with none, whose
wide neutral prior is what gets a newly added plausible agent tried; it keeps being chosen
only if its feedback is better. An agent that starts failing in a context loses that
context's traffic quickly because its old evidence decays (``forgetting``), while its
evidence in other contexts is untouched.

Pure logic: no database, no encoder, no torch. ``choose`` costs microseconds.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smolit.errors import ValidationError

STATE_VERSION = 1


@dataclass(frozen=True)
class OnlineSettings:
    """How feedback is weighed. Generic defaults, not tuned to any data set."""

    #: Beta prior of an agent's success rate before any feedback: (1, 1) is uniform with
    #: a neutral mean of 0.5, wide enough that an untried plausible agent gets tried.
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    #: Most pseudo-observations an agent's rate across contexts is worth in the prior of
    #: one context (hierarchical shrinkage); 2.0 weighs it like the neutral prior.
    shrinkage: float = 2.0
    #: Each new observation of a (context, agent) pair, and of the agent's global
    #: aggregate, first multiplies the old evidence by this. 0.97 halves it in about 23
    #: observations, so a change in an agent's quality is followed; 1.0 never forgets.
    forgetting: float = 0.97
    #: Only agents with ``p_fit >= plausibility * max p_fit`` are candidates, so an agent
    #: the router finds clearly wrong is never tried.
    plausibility: float = 0.2
    #: Exponent of the relative fit in the score. 0.5: an agent at the plausibility floor
    #: (fit 0.2 of the best) needs a success rate about 2.2 times the favourite's to win.
    fit_weight: float = 0.5
    #: When False, ``choose`` returns argmax ``p_fit``; feedback is still recorded.
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.prior_successes <= 0 or self.prior_failures <= 0:
            raise ValidationError("prior_successes and prior_failures must be positive")
        if self.shrinkage < 0 or self.fit_weight < 0:
            raise ValidationError("shrinkage and fit_weight must not be negative")
        if not 0.0 < self.forgetting <= 1.0:
            raise ValidationError("forgetting must be in (0, 1]")
        if not 0.0 <= self.plausibility <= 1.0:
            raise ValidationError("plausibility must be in [0, 1]")


@dataclass(frozen=True)
class Choice:
    """The chosen agent, the adjusted score of each candidate, and whether it explored."""

    agent: str
    scores: dict[str, float]
    #: True when the chosen agent is not the one with the best posterior-mean score.
    explored: bool = False


def outcome_value(success: bool | None, rating: int | None) -> float:
    """Map feedback to [0, 1]: the success flag wins; else a 1..5 rating gives (r - 1) / 4."""
    if rating is not None and (isinstance(rating, bool) or rating not in range(1, 6)):
        raise ValidationError(f"rating must be an integer from 1 to 5, got {rating!r}")
    if success is not None:
        return 1.0 if success else 0.0
    if rating is None:
        raise ValidationError("feedback needs a success flag or a rating")
    return (rating - 1) / 4


@dataclass(slots=True)
class _Evidence:
    """One agent's decayed pseudo-counts: [successes, failures], overall and per context."""

    total: list[float] = field(default_factory=lambda: [0.0, 0.0])
    contexts: dict[str, list[float]] = field(default_factory=dict)


def _decay_add(counts: list[float], value: float, forgetting: float) -> None:
    counts[0] = counts[0] * forgetting + value
    counts[1] = counts[1] * forgetting + (1.0 - value)


class FeedbackLearner:
    """Learns each agent's success rate per context from feedback and chooses with it."""

    def __init__(
        self, settings: OnlineSettings | None = None, rng: random.Random | None = None
    ) -> None:
        self.settings = settings or OnlineSettings()
        self._rng = rng or random.Random()
        self._agents: dict[str, _Evidence] = {}
        self._lock = threading.Lock()

    # --- deciding ---------------------------------------------------------------------

    def choose(
        self, p_fit: Mapping[str, float], context: str | None, explore: bool = True
    ) -> Choice:
        """Pick an agent among the plausible ones; see the module docstring for the rule.

        ``explore=False`` uses posterior means only. When the learner is disabled the
        choice is argmax ``p_fit`` and the scores are the candidates' relative fits.
        """
        if not p_fit:
            raise ValidationError("p_fit is empty: there is no agent to choose from")
        top = max(p_fit.values())
        floor = self.settings.plausibility * top
        fits = {a: (p / top if top > 0 else 1.0) for a, p in p_fit.items() if p >= floor}
        if not self.settings.enabled:
            best = max(fits, key=fits.__getitem__)
            return Choice(agent=best, scores=fits, explored=False)
        weight = self.settings.fit_weight
        means: dict[str, float] = {}
        scores: dict[str, float] = {}
        with self._lock:
            sample = explore and any(self._has_evidence(a) for a in fits)
            betav = self._rng.betavariate
            for agent, fit in fits.items():
                alpha, beta = self._posterior(agent, context)
                factor = fit**weight
                means[agent] = factor * alpha / (alpha + beta)
                if sample:
                    scores[agent] = factor * betav(alpha, beta)
        if not sample:
            scores = means
        chosen = max(scores, key=scores.__getitem__)
        explored = sample and chosen != max(means, key=means.__getitem__)
        return Choice(agent=chosen, scores=scores, explored=explored)

    def _has_evidence(self, agent: str) -> bool:
        ev = self._agents.get(agent)
        return ev is not None and ev.total[0] + ev.total[1] > 0

    def _posterior(self, agent: str, context: str | None) -> tuple[float, float]:
        """Beta parameters of the agent's success rate in ``context``, shrunk to its global rate."""
        settings = self.settings
        ev = self._agents.get(agent)
        alpha, beta = settings.prior_successes, settings.prior_failures
        if ev is not None:
            alpha, beta = alpha + ev.total[0], beta + ev.total[1]
        if context is None:
            return alpha, beta
        counts = ev.contexts.get(context) if ev is not None else None
        succ, fail = counts if counts else (0.0, 0.0)
        strength = min(settings.shrinkage, alpha + beta) / (alpha + beta)
        # the floor keeps Beta parameters valid when shrinkage is 0 and nothing is known
        return max(succ + strength * alpha, 1e-9), max(fail + strength * beta, 1e-9)

    # --- learning ---------------------------------------------------------------------

    def record(self, agent: str, context: str | None, value: float) -> None:
        """Add one outcome in [0, 1] for ``agent`` in ``context`` (None: global only)."""
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValidationError(f"feedback value must be in [0, 1], got {value!r}")
        forgetting = self.settings.forgetting
        with self._lock:
            ev = self._agents.setdefault(agent, _Evidence())
            _decay_add(ev.total, value, forgetting)
            if context is not None:
                _decay_add(ev.contexts.setdefault(context, [0.0, 0.0]), value, forgetting)

    def forget_agent(self, agent: str) -> None:
        """Drop all evidence about ``agent`` (it was removed); unknown agents are ignored."""
        with self._lock:
            self._agents.pop(agent, None)

    # --- reporting and persistence ----------------------------------------------------

    def stats(self, agent: str | None = None) -> dict[str, Any]:
        """Posterior mean and evidence per agent, overall and per context, for the API.

        With ``agent`` given, only that agent (its neutral prior if nothing is known).
        """
        with self._lock:
            names = [agent] if agent is not None else sorted(self._agents)
            return {name: self._summary(name) for name in names}

    def _summary(self, agent: str) -> dict[str, Any]:
        alpha, beta = self._posterior(agent, None)
        ev = self._agents.get(agent, _Evidence())
        contexts = {}
        for context, counts in sorted(ev.contexts.items()):
            c_alpha, c_beta = self._posterior(agent, context)
            contexts[context] = {
                "mean": round(c_alpha / (c_alpha + c_beta), 4),
                "evidence": round(counts[0] + counts[1], 4),
            }
        return {
            "mean": round(alpha / (alpha + beta), 4),
            "evidence": round(ev.total[0] + ev.total[1], 4),
            "contexts": contexts,
        }

    def state_dict(self) -> dict[str, Any]:
        """The learned evidence as plain JSON-serialisable data."""
        with self._lock:
            agents = {
                name: {
                    "total": list(ev.total),
                    "contexts": {c: list(v) for c, v in ev.contexts.items()},
                }
                for name, ev in self._agents.items()
            }
        return {"version": STATE_VERSION, "agents": agents}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the learned evidence with ``state`` (from ``state_dict``)."""
        if state.get("version") != STATE_VERSION:
            raise ValidationError(
                f"unsupported online-learner state version {state.get('version')!r}"
            )
        try:
            agents = {
                str(name): _Evidence(
                    total=_counts(raw["total"]),
                    contexts={str(c): _counts(v) for c, v in raw["contexts"].items()},
                )
                for name, raw in state["agents"].items()
            }
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValidationError(f"malformed online-learner state: {exc}") from exc
        with self._lock:
            self._agents = agents


def _counts(raw: Any) -> list[float]:
    succ, fail = (float(x) for x in raw)
    if not (math.isfinite(succ) and math.isfinite(fail)) or succ < 0 or fail < 0:
        raise ValueError(f"pseudo-counts must be finite and non-negative, got {raw!r}")
    return [succ, fail]
