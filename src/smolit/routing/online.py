"""Online learning from task feedback, with exploration.

The router says how well a task *fits* each agent (``p_fit``); this module learns how often
each agent actually *succeeds*, per context (the task's skill label), from the feedback
users send on finished tasks, and combines the two when choosing an agent::

    score(a) = (p_fit(a) / max p_fit) ** fit_weight * theta(a)

over the plausible candidates (``p_fit(a) >= plausibility * max p_fit``), where ``theta(a)``
is the agent's success rate in the context: a Thompson sample from its posterior when
exploring, its posterior mean otherwise.

Evidence is a pair of decayed pseudo-counts (successes, failures) per (context, agent) and
per agent across contexts. A context's posterior is Beta(s + k·m, f + k·(1 - m)) where
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

One user's influence is bounded (``user_cap``): each estimate keeps, per user, the share
of its pseudo-counts that user's feedback put there, and the weight behind it. A user's
first ``user_cap`` observations add as anyone's do; after that each new one first scales the
user's old share down so that the weight behind it stays at ``user_cap``: the user's
feedback is averaged within the cap (recent ratings count most) instead of adding up, so
one account repeating a rating cannot outweigh many accounts rating once. A share decays
with its estimate's clock (the estimate's observation count), exactly as the pooled counts
do, so subtracting it is exact. A share decayed below ``NEGLIGIBLE_SHARE`` is treated as
absent and may be dropped at any time without changing any result, which keeps the state
small and the same in every process that learns the same feedback in the same order.

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

STATE_VERSION = 2
#: state versions ``load_state_dict`` reads (1: before per-user shares)
READABLE_VERSIONS = (1, 2)
#: a user's share whose decayed weight is below this is treated as absent (and dropped)
NEGLIGIBLE_SHARE = 1e-6
#: an estimate first sweeps its negligible user shares when it holds more than this many
SWEEP_USERS_OVER = 64


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
    #: Most observation weight one user's feedback carries in one estimate (an agent's,
    #: or an agent's in one context); see the module docstring. security.feedback_user_cap.
    user_cap: float = 5.0

    def __post_init__(self) -> None:
        if self.prior_successes <= 0 or self.prior_failures <= 0:
            raise ValidationError("prior_successes and prior_failures must be positive")
        if self.shrinkage < 0 or self.fit_weight < 0:
            raise ValidationError("shrinkage and fit_weight must not be negative")
        if not 0.0 < self.forgetting <= 1.0:
            raise ValidationError("forgetting must be in (0, 1]")
        if not 0.0 <= self.plausibility <= 1.0:
            raise ValidationError("plausibility must be in [0, 1]")
        if not self.user_cap > 0:
            raise ValidationError("user_cap must be positive")


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
class _Estimate:
    """Decayed pseudo-counts [successes, failures] of one estimate, its clock (observations
    so far) and each user's share: [successes, failures, weight, clock when last set]."""

    counts: list[float] = field(default_factory=lambda: [0.0, 0.0])
    clock: int = 0
    users: dict[str, list[float]] = field(default_factory=dict)
    #: sweep negligible shares when ``users`` grows past this (doubles: amortised O(1))
    sweep_at: int = SWEEP_USERS_OVER

    @property
    def evidence(self) -> float:
        return self.counts[0] + self.counts[1]

    def add(self, value: float, user: str | None, settings: OnlineSettings) -> None:
        """Decay, then add one outcome; a user's outcome stays within ``user_cap``."""
        forgetting = settings.forgetting
        self.clock += 1
        self.counts[0] *= forgetting
        self.counts[1] *= forgetting
        if user is None:
            self.counts[0] += value
            self.counts[1] += 1.0 - value
            return
        succ, fail, weight = self._share(user, forgetting)
        cap = settings.user_cap
        added = min(1.0, cap)
        kept = min(weight, cap - added)
        scale = kept / weight if weight > 0 else 0.0
        new_succ = succ * scale + added * value
        new_fail = fail * scale + added * (1.0 - value)
        self.counts[0] = max(0.0, self.counts[0] + new_succ - succ)
        self.counts[1] = max(0.0, self.counts[1] + new_fail - fail)
        self.users[user] = [new_succ, new_fail, kept + added, float(self.clock)]
        if len(self.users) > self.sweep_at:
            self._sweep(forgetting)

    def _share(self, user: str, forgetting: float) -> tuple[float, float, float]:
        """The user's share decayed to now, and its weight; zeros when negligible."""
        share = self.users.get(user)
        if share is None:
            return 0.0, 0.0, 0.0
        decay = forgetting ** (self.clock - share[3])
        succ, fail = share[0] * decay, share[1] * decay
        if succ + fail < NEGLIGIBLE_SHARE:
            return 0.0, 0.0, 0.0
        return succ, fail, share[2]

    def _sweep(self, forgetting: float) -> None:
        self.users = {
            user: share
            for user, share in self.users.items()
            if (share[0] + share[1]) * forgetting ** (self.clock - share[3]) >= NEGLIGIBLE_SHARE
        }
        self.sweep_at = max(SWEEP_USERS_OVER, 2 * len(self.users))


@dataclass(slots=True)
class _Evidence:
    """One agent's estimates: overall and per context."""

    total: _Estimate = field(default_factory=_Estimate)
    contexts: dict[str, _Estimate] = field(default_factory=dict)


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
        return ev is not None and ev.total.evidence > 0

    def _posterior(self, agent: str, context: str | None) -> tuple[float, float]:
        """Beta parameters of the agent's success rate in ``context``, shrunk to its global rate."""
        settings = self.settings
        ev = self._agents.get(agent)
        alpha, beta = settings.prior_successes, settings.prior_failures
        if ev is not None:
            alpha, beta = alpha + ev.total.counts[0], beta + ev.total.counts[1]
        if context is None:
            return alpha, beta
        estimate = ev.contexts.get(context) if ev is not None else None
        succ, fail = estimate.counts if estimate else (0.0, 0.0)
        strength = min(settings.shrinkage, alpha + beta) / (alpha + beta)
        # the floor keeps Beta parameters valid when shrinkage is 0 and nothing is known
        return max(succ + strength * alpha, 1e-9), max(fail + strength * beta, 1e-9)

    # --- learning ---------------------------------------------------------------------

    def record(
        self, agent: str, context: str | None, value: float, user: str | None = None
    ) -> None:
        """Add one outcome in [0, 1] for ``agent`` in ``context`` (None: global only).

        ``user``: who gave the feedback; their weight in each estimate is capped at
        ``user_cap``. None (feedback not from an account) is not capped.
        """
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValidationError(f"feedback value must be in [0, 1], got {value!r}")
        with self._lock:
            ev = self._agents.setdefault(agent, _Evidence())
            ev.total.add(value, user, self.settings)
            if context is not None:
                ev.contexts.setdefault(context, _Estimate()).add(value, user, self.settings)

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
        for context, estimate in sorted(ev.contexts.items()):
            c_alpha, c_beta = self._posterior(agent, context)
            contexts[context] = {
                "mean": round(c_alpha / (c_alpha + c_beta), 4),
                "evidence": round(estimate.evidence, 4),
            }
        return {
            "mean": round(alpha / (alpha + beta), 4),
            "evidence": round(ev.total.evidence, 4),
            "contexts": contexts,
        }

    def state_dict(self) -> dict[str, Any]:
        """The learned evidence as plain JSON-serialisable data."""
        with self._lock:
            agents = {
                name: {
                    "total": _estimate_state(ev.total),
                    "contexts": {c: _estimate_state(e) for c, e in ev.contexts.items()},
                }
                for name, ev in self._agents.items()
            }
        return {"version": STATE_VERSION, "agents": agents}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the learned evidence with ``state`` (from ``state_dict``, this version
        or version 1, whose estimates have no per-user shares yet)."""
        if state.get("version") not in READABLE_VERSIONS:
            raise ValidationError(
                f"unsupported online-learner state version {state.get('version')!r}"
            )
        try:
            agents = {
                str(name): _Evidence(
                    total=_load_estimate(raw["total"]),
                    contexts={str(c): _load_estimate(v) for c, v in raw["contexts"].items()},
                )
                for name, raw in state["agents"].items()
            }
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValidationError(f"malformed online-learner state: {exc}") from exc
        with self._lock:
            self._agents = agents


def _estimate_state(estimate: _Estimate) -> dict[str, Any]:
    return {
        "counts": list(estimate.counts),
        "clock": estimate.clock,
        "users": {user: list(share) for user, share in estimate.users.items()},
    }


def _load_estimate(raw: Any) -> _Estimate:
    if isinstance(raw, list):  # version 1: the pseudo-counts alone
        return _Estimate(counts=_counts(raw))
    clock = int(raw["clock"])
    users = {}
    for user, share in raw["users"].items():
        succ, fail, weight, at = (float(x) for x in share)
        _counts([succ, fail])
        if not 0.0 <= weight <= 1e12 or not 0.0 <= at <= clock:
            raise ValueError(f"malformed user share {share!r}")
        users[str(user)] = [succ, fail, weight, at]
    return _Estimate(counts=_counts(raw["counts"]), clock=clock, users=users)


def _counts(raw: Any) -> list[float]:
    succ, fail = (float(x) for x in raw)
    if not (math.isfinite(succ) and math.isfinite(fail)) or succ < 0 or fail < 0:
        raise ValueError(f"pseudo-counts must be finite and non-negative, got {raw!r}")
    return [succ, fail]
