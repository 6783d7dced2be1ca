import json
import random
from typing import Any

import pytest

from smolit.errors import ValidationError
from smolit.routing.online import FeedbackLearner, OnlineSettings, outcome_value


def learner(seed: int = 0, **settings: Any) -> FeedbackLearner:
    return FeedbackLearner(OnlineSettings(**settings), rng=random.Random(seed))


def feed(learn: FeedbackLearner, agent: str, context: str, value: float, times: int) -> None:
    for _ in range(times):
        learn.record(agent, context, value)


def test_without_feedback_exploration_keeps_argmax_p_fit() -> None:
    learn = learner()
    p_fit = {"a": 0.3, "b": 0.45, "c": 0.25}
    choices = [learn.choose(p_fit, "ctx") for _ in range(50)]
    assert {c.agent for c in choices} == {"b"}
    assert not any(c.explored for c in choices)


def test_failing_agent_loses_that_context_but_keeps_others() -> None:
    learn = learner()
    p_fit = {"spec": 0.6, "gen": 0.3}
    for context in ("x", "y"):
        feed(learn, "spec", context, 1.0, 20)
        feed(learn, "gen", context, 0.6, 20)
    feed(learn, "spec", "x", 0.0, 30)
    assert learn.choose(p_fit, "x", explore=False).agent == "gen"
    assert learn.choose(p_fit, "y", explore=False).agent == "spec"


def test_better_new_plausible_agent_takes_over_after_feedback() -> None:
    learn = learner(seed=1)
    rates = {"old": 0.8, "new": 1.0}
    feed(learn, "old", "ctx", 0.8, 30)
    p_fit = {"old": 0.5, "new": 0.45}
    picks = []
    for _ in range(300):
        agent = learn.choose(p_fit, "ctx").agent
        learn.record(agent, "ctx", rates[agent])
        picks.append(agent)
    assert picks[-100:].count("new") > 80
    assert learn.choose(p_fit, "ctx", explore=False).agent == "new"


def test_implausible_agent_is_never_chosen() -> None:
    learn = learner()
    feed(learn, "fav", "ctx", 0.0, 30)
    feed(learn, "wrong", "ctx", 1.0, 30)
    p_fit = {"fav": 0.9, "wrong": 0.1}
    choices = [learn.choose(p_fit, "ctx") for _ in range(200)]
    assert {c.agent for c in choices} == {"fav"}
    assert "wrong" not in choices[0].scores


def test_state_dict_round_trip_gives_the_same_decisions() -> None:
    trained = learner(seed=3)
    feed(trained, "a", "ctx", 0.7, 10)
    feed(trained, "b", "ctx", 0.5, 10)
    feed(trained, "b", "other", 1.0, 5)
    restored = learner(seed=3)
    restored.load_state_dict(json.loads(json.dumps(trained.state_dict())))
    p_fit = {"a": 0.4, "b": 0.35, "c": 0.25}
    original = [trained.choose(p_fit, "ctx").agent for _ in range(100)]
    assert [restored.choose(p_fit, "ctx").agent for _ in range(100)] == original
    assert restored.stats() == trained.stats()


def test_malformed_state_is_rejected() -> None:
    with pytest.raises(ValidationError):
        learner().load_state_dict({"version": 1, "agents": {"a": {"total": [1.0]}}})


@pytest.mark.parametrize(
    ("success", "rating", "value"),
    [(True, None, 1.0), (False, 5, 0.0), (None, 1, 0.0), (None, 3, 0.5), (None, 5, 1.0)],
)
def test_outcome_value_prefers_success_then_scales_rating(
    success: bool | None, rating: int | None, value: float
) -> None:
    assert outcome_value(success, rating) == value


@pytest.mark.parametrize(("success", "rating"), [(None, None), (None, 0), (True, 6), (None, True)])
def test_outcome_value_rejects_missing_or_out_of_range_feedback(
    success: bool | None, rating: int | None
) -> None:
    with pytest.raises(ValidationError):
        outcome_value(success, rating)


def test_record_rejects_value_outside_unit_interval() -> None:
    with pytest.raises(ValidationError):
        learner().record("a", "ctx", 1.5)


@pytest.mark.parametrize(("forgetting", "expected"), [(0.97, "steady"), (1.0, "fallen")])
def test_forgetting_makes_the_learner_follow_a_change(forgetting: float, expected: str) -> None:
    learn = learner(forgetting=forgetting)
    feed(learn, "fallen", "ctx", 1.0, 200)
    feed(learn, "steady", "ctx", 0.6, 50)
    feed(learn, "fallen", "ctx", 0.0, 40)
    p_fit = {"fallen": 0.5, "steady": 0.5}
    assert learn.choose(p_fit, "ctx", explore=False).agent == expected


def test_forget_agent_drops_its_evidence() -> None:
    learn = learner()
    feed(learn, "a", "ctx", 1.0, 5)
    learn.forget_agent("a")
    assert learn.stats("a")["a"]["evidence"] == 0
    assert learn.stats() == {}


def test_disabled_learner_ignores_feedback() -> None:
    learn = learner(enabled=False)
    feed(learn, "a", "ctx", 0.0, 30)
    assert learn.choose({"a": 0.6, "b": 0.4}, "ctx").agent == "a"


def test_version_1_state_still_loads() -> None:
    restored = learner()
    restored.load_state_dict(
        {"version": 1, "agents": {"a": {"total": [3.0, 1.0], "contexts": {"x": [2.0, 0.0]}}}}
    )
    assert restored.stats("a")["a"]["evidence"] == 4.0
    assert restored.stats("a")["a"]["contexts"]["x"]["evidence"] == 2.0


def test_one_users_repeated_feedback_is_averaged_within_the_cap() -> None:
    learn = learner(forgetting=1.0, user_cap=3.0)
    for value in (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
        learn.record("a", "ctx", value, user="mallory")
    stats = learn.stats("a")["a"]
    assert stats["evidence"] == 3.0 and stats["mean"] > 0.7


def test_negligible_user_shares_are_dropped() -> None:
    learn = learner(forgetting=0.5)
    for i in range(200):
        learn.record("a", None, 1.0, user=f"user{i}")
    assert len(learn.state_dict()["agents"]["a"]["total"]["users"]) < 100
