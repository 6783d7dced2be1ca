"""Training, saving and serving a router with the real encoder on a tiny data set."""

import random
from pathlib import Path

import pytest
import torch

from smolit.agents.spec import AgentSpec
from smolit.encoding.sentence import bundled_minilm_path
from smolit.routing.data import LabelledData
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.neural.trainer import TrainingConfig, TrainingReport, train_router
from smolit.routing.online import FeedbackLearner
from tests.integration.test_router_cli import INTENTS, OOS


@pytest.fixture(scope="module")
def report() -> TrainingReport:
    rows = [(text, label) for label, texts in INTENTS.items() for text in texts]
    rows += [(text, "oos") for text in OOS]
    config = TrainingConfig(base_encoder=bundled_minilm_path(), epochs=3, threads=1)
    return train_router(LabelledData.of(rows), None, config)


def test_training_builds_both_cascade_stages(report: TrainingReport) -> None:
    model = report.model
    assert model.labels == sorted(INTENTS)
    assert model.static is not None
    assert model.static.prototypes.shape == (3, 384)
    assert -1.0 <= model.threshold <= 1.0


def test_trained_router_recognises_paraphrases(report: TrainingReport) -> None:
    labels, _ = report.model.predict(["is it going to rain later", "play a song by queen"])
    assert labels == ["weather", "music"]


def test_saved_checkpoint_predicts_the_same(report: TrainingReport, tmp_path: Path) -> None:
    texts = ["will it snow", "skip to the next track", "stop the countdown", "tell me a joke"]
    report.model.save(tmp_path / "ckpt")
    loaded = RouterModel.load(tmp_path / "ckpt")
    assert loaded.predict(texts)[0] == report.model.predict(texts)[0]
    assert loaded.static is not None
    assert torch.allclose(loaded.static.prototypes, report.model.static.prototypes, atol=1e-3)  # type: ignore[union-attr]
    assert loaded.neighbours is not None and report.model.neighbours is not None
    assert loaded.neighbours.offset == report.model.neighbours.offset
    assert torch.allclose(loaded.neighbours.vectors, report.model.neighbours.vectors, atol=1e-3)


def test_agents_with_few_examples_join_a_trained_router(report: TrainingReport) -> None:
    router = NeuralRouter(report.model, FeedbackLearner(rng=random.Random(0)), explore=False)
    cooking = AgentSpec(
        name="cooking",
        description="Cooking and recipes",
        examples=(
            "how do I boil an egg",
            "give me a pancake recipe",
            "how long to roast a chicken",
        ),
    )
    router.set_agents(
        [AgentSpec(name=label, description=label, skills={label: ()}) for label in INTENTS]
        + [cooking]
    )
    assert router.route_sync("what is a good recipe for pancakes").agent == "cooking"
    assert router.route_sync("will it rain on saturday").agent == "weather"


def test_a_one_megabyte_task_is_routed(report: TrainingReport) -> None:
    router = NeuralRouter(report.model, FeedbackLearner(), explore=False)
    router.set_agents([AgentSpec(name=label, description=label) for label in INTENTS])
    decision = router.route_sync("play some music " * 65_000)
    assert decision.agent == "music" or decision.out_of_scope


def test_training_keeps_its_out_of_scope_examples_and_cross_fits_the_threshold(
    report: TrainingReport, tmp_path: Path
) -> None:
    model = report.model
    assert model.out_of_scope is not None and model.out_of_scope.vectors.shape == (len(OOS), 384)
    assert model.meta["calibration"] == "cross-fitted over 2 folds"
    assert report.train_rows == report.validation_rows == sum(map(len, INTENTS.values()))
    # a request the training file marked out of scope is rejected
    assert model.predict([OOS[0]])[0] == ["oos"]
    model.save(tmp_path / "ckpt")
    loaded = RouterModel.load(tmp_path / "ckpt")
    assert loaded.out_of_scope is not None
    assert torch.allclose(loaded.out_of_scope.vectors, model.out_of_scope.vectors, atol=1e-3)
    texts = [OOS[1], "will it rain", "play a song"]
    assert torch.allclose(loaded.predict(texts)[1], model.predict(texts)[1], atol=1e-3)


def test_frozen_lower_layers_and_the_tuned_upper_ones_encode_like_the_whole_encoder() -> None:
    encoder = MiniEncoder.from_pretrained(bundled_minilm_path(), 6, 32).eval()
    texts = ["play some jazz", "how cold will it be tonight in the north of scotland", "hi"]
    states = encoder.lower_states(texts, 2)
    assert [len(s) for s in states] == [len(encoder.tokenizer(t)["input_ids"]) for t in texts]
    with torch.inference_mode():
        upper = encoder.upper(states, 2)
    assert torch.allclose(upper, encoder.encode(texts), atol=1e-5)
    tuned = encoder.freeze_below(2)
    assert all(p.requires_grad for p in tuned)
    assert not any(p.requires_grad for p in encoder.model.embeddings.parameters())
    assert not any(p.requires_grad for p in encoder.model.encoder.layer[1].parameters())
