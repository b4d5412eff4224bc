"""EAV transformers: shapes, fusion attention vs the length-1 baseline, masks, weights."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from edge_emotion.training.datasets.eav_preprocess import paper_data_config
from edge_emotion.training.families import EAV_FUSION, count_parameters
from edge_emotion.training.models.eav_fusion import (
    EAVModelConfig,
    build_eav_model,
    example_inputs,
    preset,
)
from edge_emotion.training.models.transformer import (
    AudioConfig,
    EEGConfig,
    EEGTransformer,
    VideoConfig,
)

TINY = EAVModelConfig(
    fusion_dim=32,
    fusion_heads=4,
    tokens_per_modality=3,
    eeg=EEGConfig(samples=200, filters=8, dim=32, depth=1, heads=4, pool=25, stride=10),
    audio=AudioConfig(n_mels=32, frames=48, patch=8, stride=8, dim=32, depth=1, heads=4),
    video=VideoConfig(frames=2, image_size=32, patch=8, dim=32, depth=1, heads=4),
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_eav_model(replace(TINY, **kw)).eval()


@pytest.mark.parametrize(
    ("modalities", "fusion"),
    [
        (("eeg",), "attention"),
        (("audio",), "attention"),
        (("video",), "attention"),
        (("eeg", "audio", "video"), "attention"),
        (("eeg", "audio", "video"), "concat_linear"),
        (("eeg", "video"), "attention"),
    ],
)
def test_every_variant_gives_logits(modalities, fusion):
    model = _model(modalities=modalities, fusion=fusion)
    x = example_inputs(model.config, 3)
    out = model(**x)
    assert out.shape == (3, 5) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_uint8_video_equals_scaled_float():
    model = _model(modalities=("video",))
    v = torch.randint(0, 256, (2, 2, 3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(model(video=v), model(video=v.float() / 255.0))


@pytest.mark.parametrize("fusion", ["attention", "concat_linear"])
@pytest.mark.parametrize("missing", [0, 1, 2])
def test_masked_modality_does_not_influence_the_output(fusion, missing):
    model = _model(fusion=fusion)
    x = example_inputs(model.config, 4)
    x["mask"][:, missing] = 0.0
    name = ("eeg", "audio", "video")[missing]
    y1 = model(**x)
    x2 = dict(x)
    x2[name] = x[name] * 5.0 + 1.0  # anything: it is masked
    y2 = model(**x2)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    # ... while the same change with the modality present does move the output
    x2["mask"] = torch.ones_like(x["mask"])
    x1 = dict(x, mask=torch.ones_like(x["mask"]))
    assert not torch.allclose(model(**x1), model(**x2))


def test_only_one_modality_present_still_runs_per_sample():
    model = _model()
    x = example_inputs(model.config, 3)
    x["mask"] = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    out = model(**x)
    assert torch.isfinite(out).all()


def test_modality_dropout_keeps_one_and_never_adds():
    model = _model(modality_dropout=0.9).train()
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 1, 1]] * 200, dtype=torch.bool)
    torch.manual_seed(1)
    dropped = model._drop_modalities(mask)
    assert dropped.any(dim=1).all()
    assert not (dropped & ~mask).any()
    assert (dropped != mask).any()  # it does drop something
    assert torch.equal(model.eval()._drop_modalities(mask), mask)  # not at evaluation


def _perturb_query_key(model: torch.nn.Module) -> None:
    """Change only the query and key projections of the fusion blocks."""
    with torch.no_grad():
        for blk in model.blocks:
            d = blk.attn.proj.in_features
            blk.attn.qkv.weight[: 2 * d] += torch.randn_like(blk.attn.qkv.weight[: 2 * d])
            blk.attn.qkv.bias[: 2 * d] += 1.0


def test_concat_fusion_is_one_linear_layer_on_the_cls_vectors():
    # the reference's dense-layer fusion (nubcico/EAV multimodal_dense_layer.py): [CLS] of
    # each modality concatenated, one linear classifier; a masked modality gives zeros
    model = _model(fusion="concat_linear")
    x = example_inputs(TINY, 3)
    x["mask"][1, 2] = 0.0
    cls = [model.encoders[m](x[m])[:, 0] for m in ("eeg", "audio", "video")]
    cls[2] = cls[2] * x["mask"][:, 2:3]
    linear = model.head[1]
    assert isinstance(linear, torch.nn.Linear) and linear.in_features == 3 * 32
    torch.testing.assert_close(model(**x), linear(torch.cat(cls, dim=1)))
    assert not hasattr(model, "blocks")


def test_attention_fusion_depends_on_queries_and_keys():
    x = example_inputs(TINY, 3)
    attn = _model(fusion="attention")
    before = attn(**x)
    _perturb_query_key(attn)
    assert not torch.allclose(attn(**x), before, atol=1e-4)


def test_local_pretrained_weights_load(tmp_path):
    src = _model()
    path = tmp_path / "eeg.pt"
    state = src.encoders["eeg"].state_dict()
    state["not_a_weight"] = torch.zeros(3)
    torch.save(state, path)
    dst = build_eav_model(replace(TINY, pretrained={"eeg": str(path)}))
    for k, v in src.encoders["eeg"].state_dict().items():
        torch.testing.assert_close(dst.encoders["eeg"].state_dict()[k], v)
    # a unimodal model's whole state (keys "encoders.eeg.*") initialises a fusion encoder
    uni = _model(modalities=("eeg",))
    torch.save({"model_state": uni.state_dict()}, tmp_path / "uni.pt")
    fused = build_eav_model(replace(TINY, pretrained={"eeg": str(tmp_path / "uni.pt")}))
    for k, v in uni.encoders["eeg"].state_dict().items():
        torch.testing.assert_close(fused.encoders["eeg"].state_dict()[k], v)
    assert not torch.equal(fused.encoders["audio"].patch.weight, src.encoders["audio"].patch.weight)
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        build_eav_model(replace(TINY, pretrained={"eeg": str(tmp_path / "nope.pt")}))
    with pytest.raises(ValueError, match="not a modality"):
        build_eav_model(replace(TINY, modalities=("audio",), pretrained={"eeg": str(path)}))


def test_config_dict_round_trip_and_validation():
    m = build_eav_model({"preset": "edge", "fusion": "concat_linear", "eeg": {"depth": 1}})
    assert m.config.fusion == "concat_linear" and m.config.eeg.depth == 1
    again = build_eav_model(m.config.to_dict())
    assert again.config == m.config
    with pytest.raises(ValueError, match="unknown EAV model config keys"):
        build_eav_model({"fusoin": "attention"})
    with pytest.raises(ValueError, match="fusion must be one of"):
        EAVModelConfig(fusion="sum")
    with pytest.raises(ValueError, match="modalities"):
        EAVModelConfig(modalities=("eeg", "eeg"))


def test_edge_default_is_small_and_paper_preset_is_configured_to_paper_sizes():
    edge = build_eav_model()
    parameters, flops = EAV_FUSION.size(edge, edge.config)
    assert parameters == 440_677  # the figure the docs give
    assert 1e6 < flops < 1e9
    paper = preset("paper")
    assert (paper.video.image_size, paper.video.patch, paper.video.dim) == (224, 16, 768)
    assert (paper.audio.n_mels, paper.audio.stride, paper.audio.depth) == (128, 10, 12)
    shapes = paper_data_config().shapes  # the loader's paper-size inputs fit the paper encoders
    assert shapes["audio"] == (paper.audio.n_mels, paper.audio.frames)
    assert shapes["video"] == (
        paper.video.frames,
        3,
        paper.video.image_size,
        paper.video.image_size,
    )
    assert shapes["eeg"] == (paper.eeg.channels, paper.eeg.samples)
    eeg_only = build_eav_model(replace(paper, modalities=("eeg",)))  # cheap to build
    assert 100_000 < count_parameters(eeg_only) < 1_000_000


def test_eeg_front_end_equals_temporal_then_per_filter_spatial():
    # With dim == filters the spatial-first front end is the reference order (a temporal
    # filter on every electrode, then that filter's spatial projection), by linearity.
    torch.manual_seed(0)
    enc = EEGTransformer(EEGConfig(samples=200, filters=4, dim=4, depth=1, heads=2, pool=25))
    x = torch.randn(2, 30, 200)
    ours = enc.temporal(enc.spatial(x))
    h = enc.temporal.weight[:, 0]  # (filters, kernel)
    w = enc.spatial.weight[:, :, 0]  # (filters, channels)
    per_channel = torch.nn.functional.conv1d(
        x.reshape(-1, 1, 200), h[:, None], padding=h.shape[1] // 2
    ).reshape(2, 30, 4, 200)  # temporal filter on each electrode
    reference = torch.einsum("fc,bcft->bft", w, per_channel)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
