"""Pretrained EAV encoders from locally stored public checkpoints (nothing is downloaded).

The reference results (``nubcico/EAV``) start the audio encoder from an AudioSet-trained AST
(``MIT/ast-finetuned-audioset-10-10-0.4593``, Hugging Face ``ASTForAudioClassification``) and
the video encoder from a ViT fine-tuned on facial expressions
(``dima806/facial_emotions_image_detection``, Hugging Face ``ViTForImageClassification``).
Download such a checkpoint yourself (``model.safetensors`` or ``pytorch_model.bin``) and pass
its path, e.g. ``eav run --preset paper --pretrained audio=ast/model.safetensors
video=vit/model.safetensors``.

Files are read with ``safetensors`` (``.safetensors``) or ``torch.load(weights_only=True)``
(anything else, through :func:`edge_emotion.training.checkpoint.read_weights_only`); nothing
is unpickled.

**Parameter names** (Hugging Face -> this package; ``P`` is ``audio_spectrogram_transformer.``
for AST, ``vit.`` for ViT; ``i`` is the layer)::

    P embeddings.cls_token                               encoder.cls
    P embeddings.position_embeddings                     encoder.pos          (see below)
    P embeddings.distillation_token        (AST only)    not used             (see below)
    P embeddings.patch_embeddings.projection.{w,b}       patch.{w,b}
    P encoder.layer.i.layernorm_before.{w,b}             encoder.blocks.i.norm1.{w,b}
    P encoder.layer.i.attention.attention.query.{w,b} \\
    P encoder.layer.i.attention.attention.key.{w,b}    }  encoder.blocks.i.attn.qkv.{w,b}
    P encoder.layer.i.attention.attention.value.{w,b} /   (stacked query, key, value)
    P encoder.layer.i.attention.output.dense.{w,b}       encoder.blocks.i.attn.proj.{w,b}
    P encoder.layer.i.layernorm_after.{w,b}              encoder.blocks.i.norm2.{w,b}
    P encoder.layer.i.intermediate.dense.{w,b}           encoder.blocks.i.mlp.0.{w,b}
    P encoder.layer.i.output.dense.{w,b}                 encoder.blocks.i.mlp.3.{w,b}
    P layernorm.{w,b}                                    encoder.norm.{w,b}
    classifier.*, P pooler.*                             not used (the source task's head)

Both models are pre-norm transformers with GELU MLPs, like :class:`~.transformer.Encoder`, and their
patch convolutions see the same layout as ours (AST transposes its (time, mel) input to
(mel, time) first, our spectrograms are (mel, time)), so the mapping is exact except for:

- AST's distillation token. Our encoder has one [CLS]; the distillation token and its position
  row are dropped, so the sequence the pretrained layers see is one token shorter.
- Position embeddings of another patch grid (a 5-s spectrogram gives 12 x 49 patches, AST was
  trained on 12 x 101; a ViT at another image size) are resampled bilinearly over the grid,
  as Hugging Face's ``interpolate_pos_encoding`` and timm do; the [CLS] row is kept.
- LayerNorm epsilon: 1e-12 in those checkpoints, 1e-5 here (no measurable effect on inputs of
  unit scale).
- Input scaling: the ViT expects pixels mapped to [-1, 1] (ours: ``(x - 0.5) / 0.5``, the
  same); AST expects Kaldi filter banks scaled to mean 0, SD 0.5, while the EAV loader gives
  librosa log-mels standardised to SD 1 per window; fine-tuning absorbs the difference.

Layers beyond the encoder's depth and tensors whose shapes do not fit are skipped and
listed in the returned report, as are the unused names above.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edge_emotion.training.checkpoint import read_weights_only

HF_PREFIXES = {"ast": "audio_spectrogram_transformer.", "vit": "vit."}
"""Naming families recognised, by the prefix of their encoder's tensors."""

_LAYER_RE = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
_LAYER_NAMES = {
    "layernorm_before": "norm1",
    "attention.output.dense": "attn.proj",
    "layernorm_after": "norm2",
    "intermediate.dense": "mlp.0",
    "output.dense": "mlp.3",
}
_QKV = ("query", "key", "value")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """``name -> tensor`` from a local ``.safetensors`` file or a weights-only torch file (a
    state dict, or a checkpoint holding one under ``"model_state"`` or ``"state_dict"``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"{path} cannot be read as a safetensors file: {exc}") from exc
    else:
        state = read_weights_only(path, "pretrained weights")
        if isinstance(state, dict):
            for key in ("model_state", "state_dict"):
                if isinstance(state.get(key), dict):
                    state = state[key]
                    break
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: expected a state dict (parameter name -> tensor)")
    return state


def naming_of(state: dict[str, torch.Tensor]) -> str:
    """``"ast"`` or ``"vit"`` (Hugging Face naming, see the module docstring) or ``"own"``."""
    for name, prefix in HF_PREFIXES.items():
        if any(k.startswith(prefix + "encoder.layer.") for k in state):
            return name
    return "own"


def resize_positions(
    pos: torch.Tensor, grid: tuple[int, int], target: tuple[int, int]
) -> torch.Tensor:
    """(1, 1 + gh*gw, d) position embeddings ([CLS] row first) resampled to ``target`` patch
    grid by bilinear interpolation; the [CLS] row is kept."""
    if tuple(grid) == tuple(target):
        return pos
    gh, gw = grid
    if pos.shape[1] != 1 + gh * gw:
        raise ValueError(f"{pos.shape[1] - 1} position rows do not form a {gh} x {gw} grid")
    d = pos.shape[-1]
    patches = pos[:, 1:].reshape(1, gh, gw, d).permute(0, 3, 1, 2).float()
    patches = F.interpolate(patches, size=tuple(target), mode="bilinear", align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, target[0] * target[1], d).to(pos.dtype)
    return torch.cat([pos[:, :1], patches], dim=1)


def _source_grid(n_rows: int, target: tuple[int, int], kind: str) -> tuple[int, int]:
    """The patch grid of a checkpoint's position table with ``n_rows`` patch rows: square for
    a ViT; for AST the published 12 x 101, else a frequency axis as long as ours."""
    if kind == "vit":
        side = round(n_rows**0.5)
        if side * side == n_rows:
            return side, side
    elif n_rows == 12 * 101:
        return 12, 101
    elif n_rows % target[0] == 0:
        return target[0], n_rows // target[0]
    raise ValueError(f"cannot tell the patch grid of {n_rows} position rows ({kind})")


def map_hf_encoder(
    state: dict[str, torch.Tensor], kind: str, grid: tuple[int, int]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a Hugging Face AST/ViT state dict to this package's encoder names (module
    docstring). ``grid``: our encoder's patch grid (rows, columns) for the position table.
    Returns ``(mapped, unused_source_names)``."""
    prefix = HF_PREFIXES[kind]
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        if not name.startswith(prefix):
            unused.append(name)  # classifier.*: the source task's head
            continue
        rest = name[len(prefix) :]
        m = _LAYER_RE.fullmatch(rest)
        if rest == "embeddings.cls_token":
            out["encoder.cls"] = tensor
        elif rest == "embeddings.position_embeddings":
            n_special = 2 if kind == "ast" else 1  # AST: [CLS], distillation
            patches = tensor[:, n_special:]
            src = _source_grid(patches.shape[1], grid, kind)
            out["encoder.pos"] = resize_positions(
                torch.cat([tensor[:, :1], patches], dim=1), src, grid
            )
        elif rest.startswith("embeddings.patch_embeddings.projection."):
            out["patch." + rest.rsplit(".", 1)[1]] = tensor
        elif rest.startswith("layernorm."):
            out["encoder.norm." + rest.rsplit(".", 1)[1]] = tensor
        elif m:
            layer, sub = int(m.group(1)), m.group(2)
            module, _, param = sub.rpartition(".")
            if module.startswith("attention.attention.") and module.split(".")[-1] in _QKV:
                qkv.setdefault((layer, param), {})[module.split(".")[-1]] = tensor
            elif module in _LAYER_NAMES:
                out[f"encoder.blocks.{layer}.{_LAYER_NAMES[module]}.{param}"] = tensor
            else:
                unused.append(name)
        else:
            unused.append(name)  # distillation_token, pooler.*
    for (layer, param), parts in sorted(qkv.items()):
        if set(parts) != set(_QKV):
            raise ValueError(
                f"layer {layer}: {param} of query/key/value incomplete (has {sorted(parts)})"
            )
        out[f"encoder.blocks.{layer}.attn.qkv.{param}"] = torch.cat([parts[k] for k in _QKV])
    return out, sorted(unused)


def _patch_grid(module: nn.Module) -> tuple[int, int]:
    """Patch grid of an AST-style or ViT encoder of :mod:`.transformer`."""
    c = module.config
    if hasattr(c, "n_mels"):
        return (c.n_mels - c.patch) // c.stride + 1, (c.frames - c.patch) // c.stride + 1
    if hasattr(c, "image_size"):
        return c.image_size // c.patch, c.image_size // c.patch
    raise ValueError(
        f"{type(module).__name__} has no patch grid; Hugging Face AST/ViT "
        "weights fit the audio and video encoders only"
    )


def load_pretrained(module: nn.Module, path: str | Path, prefix: str = "") -> dict[str, list[str]]:
    """Initialise ``module`` (an encoder of :mod:`.transformer`) from the local file ``path``.

    Accepted namings: Hugging Face AST / ViT (mapped as in the module docstring) and this
    package's own — an encoder's ``state_dict()`` or a whole EAV checkpoint whose keys carry
    ``prefix`` (``"encoders.eeg."``), so unimodal training can initialise a fusion model's
    encoder, as in the paper. Tensors whose shapes do not fit are skipped, not fatal.
    Returns ``{"loaded", "skipped", "missing"}`` (names: ours, source's, ours).
    """
    path = Path(path)
    state = read_state_dict(path)
    kind = naming_of(state)
    unused: list[str] = []
    if kind == "own":
        if prefix and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    else:
        try:
            state, unused = map_hf_encoder(state, kind, _patch_grid(module))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    own = module.state_dict()
    ok = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not ok:
        raise ValueError(
            f"{path}: no tensor matches the names and shapes of {type(module).__name__} "
            f"(naming recognised: {kind})"
        )
    module.load_state_dict(ok, strict=False)
    skipped = sorted(unused + [k for k in state if k not in ok])
    return {"loaded": sorted(ok), "skipped": skipped, "missing": sorted(set(own) - set(ok))}
