import random

import pytest
import torch
import torch.nn.functional as F

from smolit.agents.spec import AgentSpec
from smolit.errors import RoutingError, ValidationError
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.online import FeedbackLearner
from smolit.testing import LookupEncoder
from tests.unit.helpers import COOKING, TRAVEL


def make_router(threshold: float = 0.35, explore: bool = True) -> NeuralRouter:
    model = RouterModel.untrained(LookupEncoder(), threshold)
    router = NeuralRouter(model, FeedbackLearner(rng=random.Random(0)), explore=explore)
    router.set_agents([COOKING, TRAVEL])
    return router


def test_routes_to_the_agent_whose_examples_match() -> None:
    decision = make_router().route_sync("please boil an egg")
    assert (decision.agent, decision.out_of_scope) == ("cooking", False)
    assert decision.extra["skill"] == "cooking/cooking"


def test_agent_scores_are_probabilities() -> None:
    decision = make_router().route_sync("book a flight")
    assert decision.agent == "travel"
    assert sum(s.score for s in decision.scores) == pytest.approx(1.0, abs=1e-5)


def test_unrelated_text_is_out_of_scope_with_a_reason() -> None:
    decision = make_router().route_sync("quantum chromodynamics lattice")
    assert decision.out_of_scope and decision.agent is None
    assert "below the out-of-scope threshold" in decision.reason


def test_unavailable_agent_is_never_chosen() -> None:
    decision = make_router(threshold=-1.0).route_sync("boil an egg", available={"travel"})
    assert decision.agent == "travel"


def test_no_available_agent_is_out_of_scope() -> None:
    decision = make_router().route_sync("boil an egg", available=set())
    assert decision.out_of_scope and decision.reason == "no agent is available"


def test_named_skills_become_their_own_prototypes() -> None:
    router = make_router()
    music = AgentSpec(name="music", description="songs", skills={"tuning": ("tune a guitar",)})
    router.set_agents([COOKING, TRAVEL, music])
    decision = router.route_sync("how do I tune a guitar")
    assert (decision.agent, decision.extra["skill"]) == ("music", "music/tuning")


def test_trained_label_prototypes_join_their_agent() -> None:
    encoder = LookupEncoder()
    trained = F.normalize(encoder.encode(["mortgage rates"]), dim=-1)
    model = RouterModel(encoder, ["finance"], trained, 20.0, 0.35)
    router = NeuralRouter(model, FeedbackLearner(rng=random.Random(0)))
    router.set_agents([COOKING, AgentSpec(name="finance", description="money")])
    assert router.route_sync("mortgage rates").extra["skill"] == "finance/finance"


def test_removed_agent_is_no_longer_routable() -> None:
    router = make_router(threshold=-1.0)
    router.set_agents([TRAVEL])
    assert router.route_sync("boil an egg").agent == "travel"


def test_failing_agent_loses_traffic_after_feedback() -> None:
    router = make_router(threshold=-1.0)
    both = AgentSpec(name="chef", description="cooking recipes", examples=("boil an egg",))
    router.set_agents([COOKING, both])
    for _ in range(30):
        decision = router.route_sync("boil an egg")
        assert decision.agent is not None
        router.learn(
            decision.agent,
            str(decision.extra["skill"]),
            0.0 if decision.agent == "cooking" else 1.0,
        )
    chosen = [router.route_sync("boil an egg").agent for _ in range(20)]
    assert chosen.count("chef") > chosen.count("cooking")


def test_without_feedback_the_decision_is_deterministic() -> None:
    router = make_router()
    assert {router.route_sync("bake bread").agent for _ in range(10)} == {"cooking"}


def test_empty_text_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        make_router().route_sync(" ")


def test_no_agents_is_a_routing_error() -> None:
    router = NeuralRouter(RouterModel.untrained(LookupEncoder(), 0.3), FeedbackLearner())
    with pytest.raises(RoutingError):
        router.route_sync("anything")


def test_untrained_model_cannot_be_saved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from smolit.errors import ModelError

    with pytest.raises(ModelError):
        RouterModel.untrained(LookupEncoder(), 0.3).save(tmp_path)


def test_predict_marks_low_confidence_as_oos() -> None:
    encoder = LookupEncoder()
    model = RouterModel(encoder, ["a"], encoder.encode(["alpha beta"]), 20.0, 0.5)
    labels, confidence = model.predict(["alpha beta", "gamma delta"])
    assert labels == ["a", "oos"]
    assert float(confidence[0]) == pytest.approx(1.0, abs=1e-5)
    assert torch.is_tensor(confidence)


def test_neighbours_score_a_label_by_its_nearest_examples() -> None:
    from smolit.routing.neural.model import Neighbours

    vectors = F.normalize(torch.randn(7, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    owners = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    neighbours = Neighbours(vectors, owners, 3, k=2, offset=0.1)
    z = F.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(1)), dim=-1)
    cosines = z @ vectors.T
    expected = torch.stack(
        [
            cosines[:, :4].topk(2, dim=1).values.mean(1),
            cosines[:, 4:6].mean(1),
            cosines[:, 6],
        ],
        dim=1,
    )
    assert torch.allclose(neighbours.raw(z) - 0.1, expected - 0.1, atol=1e-6)
    cosines = torch.zeros((4, 3))  # all three labels are candidates
    assert torch.allclose(neighbours.scores(z, cosines), expected - 0.1, atol=1e-6)


def test_neighbour_offset_is_zero_for_a_label_of_identical_examples() -> None:
    from smolit.routing.neural.model import Neighbours

    vectors = F.normalize(torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 3), dim=-1)
    owners = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    assert Neighbours.fit_offset(vectors, owners, 2, k=2).offset == pytest.approx(0.0, abs=1e-6)


def test_trained_labels_are_scored_by_their_neighbours() -> None:
    from smolit.routing.neural.model import Neighbours

    encoder = LookupEncoder()
    examples = encoder.encode(["mortgage rates", "loan interest"])
    # the prototype alone points elsewhere; the nearest example decides
    prototype = encoder.encode(["boil an egg"])
    model = RouterModel(encoder, ["finance"], prototype, 20.0, 0.35)
    model.neighbours = Neighbours(examples, torch.tensor([0, 0]), 1, k=1, offset=0.0)
    router = NeuralRouter(model, FeedbackLearner(rng=random.Random(0)), explore=False)
    router.set_agents([COOKING, AgentSpec(name="finance", description="money")])
    decision = router.route_sync("mortgage rates")
    assert decision.extra["skill"] == "finance/finance"
    assert decision.confidence == pytest.approx(1.0, abs=1e-5)


def test_resembling_a_known_out_of_scope_request_lowers_the_confidence() -> None:
    from smolit.routing.neural.model import OutOfScopeExamples

    encoder = LookupEncoder()
    model = RouterModel(encoder, ["a"], encoder.encode(["alpha beta"]), 20.0, 0.3)
    assert model.predict(["alpha gamma"])[0] == ["a"]  # cosine 0.5 clears 0.3
    model.out_of_scope = OutOfScopeExamples(encoder.encode(["alpha gamma"]), k=5)
    labels, confidence = model.predict(["alpha beta", "alpha gamma"])
    assert labels == ["a", "oos"]
    # each text: its best label's cosine less its cosine with the out-of-scope example
    expected = [1.0 - float(encoder.encode(["alpha beta"]) @ encoder.encode(["alpha gamma"]).T)]
    expected.append(float(encoder.encode(["alpha gamma"]) @ encoder.encode(["alpha beta"]).T) - 1)
    assert confidence.tolist() == pytest.approx(expected, abs=1e-5)


def test_the_router_rejects_a_known_out_of_scope_request_and_says_why() -> None:
    from smolit.routing.neural.model import OutOfScopeExamples

    encoder = LookupEncoder()
    model = RouterModel.untrained(encoder, 0.0)
    router = NeuralRouter(model, FeedbackLearner(rng=random.Random(0)), explore=False)
    router.set_agents([COOKING, TRAVEL])
    assert router.route_sync("boil an egg in space").agent == "cooking"
    model.out_of_scope = OutOfScopeExamples(encoder.encode(["boil an egg in space"]), k=5)
    decision = router.route_sync("boil an egg in space")
    assert decision.out_of_scope and decision.agent is None
    assert decision.extra["out_of_scope_similarity"] == pytest.approx(1.0, abs=1e-4)
    assert "for resembling known out-of-scope requests" in decision.reason
    assert decision.confidence < 0
    assert router.route_sync("book a flight to paris").agent == "travel"
