import pytest

from smolit.errors import RoutingError, ValidationError
from smolit.routing.similarity import SimilarityRouter
from smolit.testing import LookupEncoder
from tests.unit.helpers import COOKING, TRAVEL


@pytest.fixture
def router() -> SimilarityRouter:
    router = SimilarityRouter(LookupEncoder(), threshold=0.35)
    router.set_agents([COOKING, TRAVEL])
    return router


def test_routes_to_the_agent_whose_examples_match(router: SimilarityRouter) -> None:
    decision = router.route("please boil an egg")
    assert decision.agent == "cooking"
    assert not decision.out_of_scope


def test_scores_every_agent(router: SimilarityRouter) -> None:
    decision = router.route("book a flight")
    assert {s.agent for s in decision.scores} == {"cooking", "travel"}
    assert decision.agent == "travel"


def test_unrelated_text_is_out_of_scope(router: SimilarityRouter) -> None:
    decision = router.route("quantum chromodynamics lattice")
    assert decision.out_of_scope
    assert decision.agent is None
    assert "below the threshold" in decision.reason


def test_unavailable_agent_is_never_chosen(router: SimilarityRouter) -> None:
    decision = router.route("boil an egg", available={"travel"})
    assert decision.agent != "cooking"


def test_agent_added_later_is_routable(router: SimilarityRouter) -> None:
    from smolit.agents.spec import AgentSpec

    music = AgentSpec(name="music", description="songs guitar", examples=("tune a guitar",))
    router.set_agents([COOKING, TRAVEL, music])
    assert router.route("how do I tune a guitar").agent == "music"


def test_empty_text_is_a_validation_error(router: SimilarityRouter) -> None:
    with pytest.raises(ValidationError):
        router.route("   ")


def test_no_agents_is_a_routing_error() -> None:
    with pytest.raises(RoutingError):
        SimilarityRouter(LookupEncoder()).route("anything")


def test_decision_fallbacks_exclude_the_chosen_agent(router: SimilarityRouter) -> None:
    router.threshold = -1.0
    decision = router.route("boil an egg")
    assert decision.fallbacks() == ["travel"]
