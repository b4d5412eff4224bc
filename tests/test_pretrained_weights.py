"""Pretrained encoders from Hugging Face AST / ViT checkpoints stored locally.

The checkpoints here are small, generated with the public models' parameter names and
layouts (separate query/key/value, AST's distillation token, a classifier head). A reference
forward pass written from those names — as the Hugging Face models compute it — must equal
our encoder's after the mapping, so a wrong rename, transpose or query/key/value order fails.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from edge_emotion.training.models.eav_fusion import EAVModelConfig, build_eav_model
from edge_emotion.training.models.pretrained import (
    load_pretrained,
    naming_of,
    read_state_dict,
    resize_positions,
)
from edge_emotion.training.models.transformer import (
    AudioConfig,
    SpectrogramTransformer,
    VideoConfig,
    VisionTransformer,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIM, HEADS, LAYERS, MLP = 32, 4, 2, 128


def _hf_state(prefix: str, in_ch: int, patch: int, n_pos: int, dist: bool) -> dict:
    g = torch.Generator().manual_seed(len(prefix) + n_pos)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.2

    p = prefix
    s = {
        f"{p}embeddings.cls_token": r(1, 1, DIM),
        f"{p}embeddings.position_embeddings": r(1, n_pos, DIM),
        f"{p}embeddings.patch_embeddings.projection.weight": r(DIM, in_ch, patch, patch),
        f"{p}embeddings.patch_embeddings.projection.bias": r(DIM),
        f"{p}layernorm.weight": 1 + r(DIM),
        f"{p}layernorm.bias": r(DIM),
        "classifier.weight": r(7, DIM),
        "classifier.bias": r(7),
    }
    if dist:
        s[f"{p}embeddings.distillation_token"] = r(1, 1, DIM)
    for i in range(LAYERS):
        q = f"{p}encoder.layer.{i}."
        for name in ("query", "key", "value"):
            s[f"{q}attention.attention.{name}.weight"] = r(DIM, DIM)
            s[f"{q}attention.attention.{name}.bias"] = r(DIM)
        s[f"{q}attention.output.dense.weight"] = r(DIM, DIM)
        s[f"{q}attention.output.dense.bias"] = r(DIM)
        s[f"{q}intermediate.dense.weight"] = r(MLP, DIM)
        s[f"{q}intermediate.dense.bias"] = r(MLP)
        s[f"{q}output.dense.weight"] = r(DIM, MLP)
        s[f"{q}output.dense.bias"] = r(DIM)
        for ln in ("layernorm_before", "layernorm_after"):
            s[f"{q}{ln}.weight"] = 1 + r(DIM)
            s[f"{q}{ln}.bias"] = r(DIM)
    return s


def _hf_forward(s: dict, p: str, pixels: torch.Tensor, stride: int, dist: bool) -> torch.Tensor:
    """The Hugging Face ViT/AST encoder computed from its own parameter names."""
    x = F.conv2d(
        pixels,
        s[f"{p}embeddings.patch_embeddings.projection.weight"],
        s[f"{p}embeddings.patch_embeddings.projection.bias"],
        stride=stride,
    )
    x = x.flatten(2).transpose(1, 2)
    b = x.shape[0]
    special = [s[f"{p}embeddings.cls_token"].expand(b, -1, -1)]
    if dist:
        special.append(s[f"{p}embeddings.distillation_token"].expand(b, -1, -1))
    x = torch.cat([*special, x], dim=1) + s[f"{p}embeddings.position_embeddings"]
    hd = DIM // HEADS
    for i in range(LAYERS):
        q = f"{p}encoder.layer.{i}."

        def lin(t: torch.Tensor, name: str, q: str = q) -> torch.Tensor:
            return F.linear(t, s[f"{q}{name}.weight"], s[f"{q}{name}.bias"])

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, -1, HEADS, hd).transpose(1, 2)

        h = F.layer_norm(
            x, (DIM,), s[f"{q}layernorm_before.weight"], s[f"{q}layernorm_before.bias"]
        )
        qq, kk, vv = (heads(lin(h, f"attention.attention.{n}")) for n in ("query", "key", "value"))
        att = (qq @ kk.transpose(-1, -2) / hd**0.5).softmax(-1) @ vv
        x = x + lin(att.transpose(1, 2).reshape(b, -1, DIM), "attention.output.dense")
        h = F.layer_norm(x, (DIM,), s[f"{q}layernorm_after.weight"], s[f"{q}layernorm_after.bias"])
        x = x + lin(F.gelu(lin(h, "intermediate.dense")), "output.dense")
    return F.layer_norm(x, (DIM,), s[f"{p}layernorm.weight"], s[f"{p}layernorm.bias"])


VIDEO = VideoConfig(frames=2, image_size=32, patch=8, dim=DIM, depth=LAYERS, heads=HEADS)
AUDIO = AudioConfig(n_mels=32, frames=48, patch=8, stride=8, dim=DIM, depth=LAYERS, heads=HEADS)


@pytest.mark.parametrize("fmt", ["safetensors", "torch"])
def test_hf_vit_checkpoint_gives_the_same_encoder(tmp_path, fmt):
    state = _hf_state("vit.", 3, 8, 1 + 16, dist=False)
    path = tmp_path / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    if fmt == "safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    enc = VisionTransformer(VIDEO).eval()
    report = load_pretrained(enc, path)
    assert report["missing"] == ["time"]  # the per-frame time embedding is ours alone
    assert report["skipped"] == ["classifier.bias", "classifier.weight"]
    frames = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        ours = enc.frame_tokens(frames)
        ref = _hf_forward(state, "vit.", (frames - 0.5) / 0.5, 8, dist=False)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_hf_ast_checkpoint_gives_the_same_encoder_without_distillation_token(tmp_path):
    # AST grid for 32 mels x 48 frames, patch 8, stride 8: 4 x 6 patches + [CLS] + distillation
    state = _hf_state("audio_spectrogram_transformer.", 1, 8, 2 + 24, dist=True)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    assert naming_of(read_state_dict(path)) == "ast"
    enc = SpectrogramTransformer(AUDIO).eval()
    report = load_pretrained(enc, path)
    assert report["missing"] == []
    assert "audio_spectrogram_transformer.embeddings.distillation_token" in report["skipped"]
    spec = torch.randn(2, 32, 48)  # ours: (mel, time)
    # without the distillation token (and its position row), as our encoder has one [CLS]
    ref_state = dict(state)
    pos = state["audio_spectrogram_transformer.embeddings.position_embeddings"]
    ref_state["audio_spectrogram_transformer.embeddings.position_embeddings"] = torch.cat(
        [pos[:, :1], pos[:, 2:]], dim=1
    )
    with torch.no_grad():
        ours = enc(spec)
        # Hugging Face AST takes (time, mel) and transposes to (mel, time) before its conv
        hf_input = spec.transpose(1, 2).unsqueeze(1).transpose(2, 3)
        ref = _hf_forward(ref_state, "audio_spectrogram_transformer.", hf_input, 8, dist=False)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_positions_of_another_grid_are_resampled(tmp_path):
    # the checkpoint's grid is 4 x 6; an encoder on 32 frames has 4 x 4
    state = _hf_state("audio_spectrogram_transformer.", 1, 8, 2 + 24, dist=True)
    save_file(state, str(tmp_path / "ast.safetensors"))
    enc = SpectrogramTransformer(AudioConfig(**{**AUDIO.__dict__, "frames": 32}))
    report = load_pretrained(enc, tmp_path / "ast.safetensors")
    assert "encoder.pos" in report["loaded"]
    src = state["audio_spectrogram_transformer.embeddings.position_embeddings"]
    got = enc.encoder.pos.detach()
    torch.testing.assert_close(got[:, 0], src[:, 0])  # [CLS] row kept, distillation dropped
    grid = src[:, 2:].reshape(1, 4, 6, DIM).permute(0, 3, 1, 2)
    expect = F.interpolate(grid, size=(4, 4), mode="bilinear", align_corners=False)
    torch.testing.assert_close(got[:, 1:], expect.permute(0, 2, 3, 1).reshape(1, 16, DIM))
    same = resize_positions(got, (4, 4), (4, 4))
    assert same is got


def test_fusion_model_takes_pretrained_audio_and_video(tmp_path):
    save_file(_hf_state("vit.", 3, 8, 17, dist=False), str(tmp_path / "vit.safetensors"))
    ast = _hf_state("audio_spectrogram_transformer.", 1, 8, 26, dist=True)
    torch.save({"state_dict": ast}, tmp_path / "ast.pt")  # a wrapped torch state dict
    cfg = EAVModelConfig(
        fusion_dim=DIM,
        fusion_heads=HEADS,
        audio=AUDIO,
        video=VIDEO,
        pretrained={"audio": str(tmp_path / "ast.pt"), "video": str(tmp_path / "vit.safetensors")},
    )
    model = build_eav_model(cfg)
    torch.testing.assert_close(
        model.encoders["audio"].patch.weight,
        ast["audio_spectrogram_transformer.embeddings.patch_embeddings.projection.weight"],
    )
    qkv = model.encoders["audio"].encoder.blocks[1].attn.qkv.weight
    p = "audio_spectrogram_transformer.encoder.layer.1.attention.attention."
    torch.testing.assert_close(qkv[DIM : 2 * DIM], ast[p + "key.weight"])


class _NotWeights:
    pass


def test_bad_weight_files_are_refused_with_their_path(tmp_path):
    # a pickle holding an arbitrary object is never unpickled
    evil = tmp_path / "evil.bin"
    with open(evil, "wb") as fh:
        pickle.dump({"x": _NotWeights()}, fh, protocol=2)
    with pytest.raises(ValueError, match=r"evil\.bin.*weights-only"):
        read_state_dict(evil)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match=r"broken\.safetensors"):
        read_state_dict(broken)
    with pytest.raises(FileNotFoundError, match=r"absent\.safetensors"):
        read_state_dict(tmp_path / "absent.safetensors")
    # the right naming but another width: nothing fits, said so
    save_file(_hf_state("vit.", 3, 8, 17, dist=False), str(tmp_path / "vit.safetensors"))
    wide = VisionTransformer(VideoConfig(frames=2, image_size=32, patch=8, dim=64, heads=4))
    with pytest.raises(ValueError, match=r"vit\.safetensors.*no tensor matches.*vit"):
        load_pretrained(wide, tmp_path / "vit.safetensors")
    # query without key/value: incomplete layer
    partial = _hf_state("vit.", 3, 8, 17, dist=False)
    del partial["vit.encoder.layer.0.attention.attention.key.weight"]
    save_file(partial, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ValueError, match=r"partial\.safetensors.*layer 0.*incomplete"):
        load_pretrained(VisionTransformer(VIDEO), tmp_path / "partial.safetensors")


def test_deeper_checkpoint_loads_the_first_layers_and_lists_the_rest(tmp_path):
    save_file(_hf_state("vit.", 3, 8, 17, dist=False), str(tmp_path / "vit.safetensors"))
    shallow = VisionTransformer(VideoConfig(**{**VIDEO.__dict__, "depth": 1}))
    report = load_pretrained(shallow, tmp_path / "vit.safetensors")
    assert "encoder.blocks.0.attn.qkv.weight" in report["loaded"]
    assert "encoder.blocks.1.attn.qkv.weight" in report["skipped"]
