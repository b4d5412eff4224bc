"""MAAN / base model shapes, size budget, attention behaviour, and the checkpoint contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_emotion.normalization import Normalization
from edge_emotion.training.checkpoint import (
    EEG_ECG_CHECKPOINT,
    load_checkpoint,
    save_checkpoint,
)
from edge_emotion.training.families import EEG_ECG, load_model
from edge_emotion.training.models.maan import (
    build_model,
    example_inputs,
    model_config,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ["maan", "base"])
def test_default_model_is_edge_sized_and_shapes_match_contract(name):
    cfg = model_config(name)
    model = build_model(cfg)
    parameters, flops = EEG_ECG.size(model, cfg)
    assert parameters <= 1_000_000
    assert flops > 2 * parameters // 2  # convolutions reuse weights
    eeg = torch.randn(5, 4, 14, 10)
    ecg = torch.randn(5, 1, 32)
    out = model(eeg, ecg)
    assert out.shape == (5, 2)
    assert out.dtype == torch.float32
    assert model.embed(eeg, ecg).shape == (5, model.embedding_dim)


def test_fusion_attention_couples_modalities():
    """In MAAN the EEG features depend on the ECG input through the attention masks."""
    torch.manual_seed(0)
    # Training mode: batch norm normalises each branch by its own batch statistics, so the
    # base model's EEG features still cannot see the ECG input.
    maan = build_model(model_config("maan", dropout=0.0)).train()
    base = build_model(model_config("base", dropout=0.0)).train()
    eeg = torch.randn(3, 4, 14, 10)
    ecg1, ecg2 = torch.randn(3, 1, 32), torch.randn(3, 1, 32)
    n_eeg = 16 * 14
    with torch.no_grad():
        e_maan = maan.embed(eeg, ecg1)[:, :n_eeg] - maan.embed(eeg, ecg2)[:, :n_eeg]
        e_base = base.embed(eeg, ecg1)[:, :n_eeg] - base.embed(eeg, ecg2)[:, :n_eeg]
    assert e_maan.abs().max() > 1e-3
    assert e_base.abs().max() == 0.0
    assert maan.attention is not None and base.attention is None


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="eeg_width"):
        build_model({"name": "maan", "eeg_width": 0})
    with pytest.raises(ValueError, match="unknown keys"):
        build_model({"name": "maan", "colour": "red"})
    with pytest.raises(ValueError, match="name"):
        build_model({"name": "transformer"})


def test_checkpoint_roundtrip_weights_only(tmp_path):
    cfg = model_config("maan", eeg_width=4, ecg_width=4, hidden=8)
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    norm = Normalization(np.zeros((4, 14)), np.ones((4, 14)), 0.5, 0.25).to_dict()
    ckpt = EEG_ECG.make_checkpoint(
        model,
        cfg,
        metrics={"accuracy": np.float64(0.5)},
        dataset={"name": "synthetic", "synthetic": True},
        feature_config={"eeg_fs": 128.0},
        normalization=norm,
        targets=("arousal", "valence"),
        thresholds={"arousal": 0.5, "valence": 0.5},
    )
    path = save_checkpoint(ckpt, tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == EEG_ECG_CHECKPOINT
    assert raw["targets"] == ["arousal", "valence"]
    assert raw["thresholds"] == {"arousal": 0.5, "valence": 0.5}
    loaded = load_model(load_checkpoint(path))
    x = [torch.randn_like(v) for v in example_inputs(cfg, 2).values()]
    with torch.no_grad():
        assert torch.equal(model(*x), loaded(*x))
    assert Normalization.from_dict(raw["normalization"], 4, 14).eeg_mean.shape == (4, 14)
