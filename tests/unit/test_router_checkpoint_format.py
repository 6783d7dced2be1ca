"""Router checkpoints hold no pickle: tensors in safetensors; a legacy ``prototypes.pt`` is
read only through torch's ``weights_only`` loader, which refuses code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from smolit.encoding.sentence import bundled_minilm_path
from smolit.errors import ModelError
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.model import RouterModel
from tests.unit.helpers import Exploit


@pytest.fixture(scope="module")
def model() -> RouterModel:
    encoder = MiniEncoder.from_pretrained(bundled_minilm_path(), layers=1, max_length=16)
    prototypes = encoder.encode(["cooking recipes", "travel flights"])
    return RouterModel(encoder, ["cooking", "travel"], prototypes, 20.0, 0.3)


def legacy(model: RouterModel, directory: Path) -> None:
    """``directory`` as a checkpoint written before safetensors."""
    model.save(directory)
    torch.save(load_file(directory / "prototypes.safetensors"), directory / "prototypes.pt")
    (directory / "prototypes.safetensors").unlink()


def test_a_saved_checkpoint_holds_no_pickle(model: RouterModel, tmp_path: Path) -> None:
    model.save(tmp_path / "ckpt")
    names = {p.name for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    assert "prototypes.safetensors" in names and "model.safetensors" in names
    assert not [n for n in names if n.endswith((".pt", ".bin", ".pkl", ".pickle"))]


def test_a_checkpoint_reads_back_the_same(model: RouterModel, tmp_path: Path) -> None:
    model.save(tmp_path / "ckpt")
    loaded = RouterModel.load(tmp_path / "ckpt")
    assert torch.allclose(loaded.prototypes, model.prototypes, atol=1e-6)


def test_a_legacy_checkpoint_is_still_read(model: RouterModel, tmp_path: Path) -> None:
    legacy(model, tmp_path / "ckpt")
    loaded = RouterModel.load(tmp_path / "ckpt")
    assert torch.allclose(loaded.prototypes, model.prototypes, atol=1e-6)


def test_a_legacy_file_holding_code_is_refused(model: RouterModel, tmp_path: Path) -> None:
    legacy(model, tmp_path / "ckpt")
    marker = tmp_path / "ran"
    torch.save({"prototypes": Exploit(marker)}, tmp_path / "ckpt" / "prototypes.pt")
    with pytest.raises(ModelError, match="cannot read router checkpoint"):
        RouterModel.load(tmp_path / "ckpt")
    assert not marker.exists()


def test_a_pickled_encoder_weight_file_is_not_read(model: RouterModel, tmp_path: Path) -> None:
    model.save(tmp_path / "ckpt")
    encoder = tmp_path / "ckpt" / "encoder"
    (encoder / "model.safetensors").unlink()
    (encoder / "pytorch_model.bin").write_bytes(pickle.dumps(Exploit(tmp_path / "ran")))
    with pytest.raises(ModelError):
        RouterModel.load(tmp_path / "ckpt")
    assert not (tmp_path / "ran").exists()
