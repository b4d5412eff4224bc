"""The EEG + audio + video fusion model (arXiv 2411.00822, EAV dataset).

Three encoders, one per modality (:mod:`.transformer`), and a fusion head, all plain torch:

- :class:`EAVFusionModel`: ``fusion="attention"`` — a few tokens from each modality (its [CLS]
  and pooled groups of its sequence), projected to a common width and tagged with a modality
  embedding, attend to each other and to a fusion [CLS] in transformer blocks; tokens of a
  missing modality are removed from every softmax by the mask, so the prediction does not depend
  on them at all. ``fusion="concat_linear"`` is the ablation baseline: the modalities' [CLS]
  vectors concatenated and classified by one linear layer, the fusion of the reference code's
  ``Multimodal_classification/multimodal_dense_layer.py`` (audio + video) and
  ``Fusion/model_multi.py`` (audio + EEG) in ``nubcico/EAV``.
  Modality dropout (training only) hides random modalities per sample, always keeping one.

What the reference's attention fusion does (``nubcico/EAV``,
``Multimodal_classification/multimodal_self_attention.py``, audio + video only): it
concatenates the *whole* token sequences — the AST's 1213 tokens and the ViT's 197 tokens
averaged over the 25 frames — and applies one block, ``x + attn(x)`` (no norm before the
attention, its output projection commented out) then ``x + mlp(norm(x))``, and classifies the
audio [CLS] (position 0) concatenated with the video [CLS] (position 1213) by a linear layer.
Its training call, ``train(freeze=True)``, leaves only that classifier trainable, so the
attention block keeps its random initialisation. ``fusion="attention"`` here differs: all three
modalities, ``tokens_per_modality`` pooled tokens each plus a fusion [CLS], pre-norm blocks,
masks for missing modalities, everything trained.

``build_eav_model(config)`` builds from a dict/:class:`EAVModelConfig`; presets ``"edge"``
(default, 440,677 parameters with attention fusion) and ``"paper"`` (ViT-B/16, AST-base,
12-layer EEG transformer). Encoders can start from public pretrained checkpoints stored
locally (:mod:`edge_emotion.training.models.pretrained`).
Inputs: ``eeg`` (B, 30, T) z-scored, ``audio`` (B, n_mels, frames) standardised log-mel,
``video`` (B, F, 3, H, W) in [0, 1], ``mask`` (B, 3) with 1 where eeg/audio/video is present.
Output: logits (B, 5) over ``EMOTIONS`` (neutral, sadness, anger, happiness, calmness).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edge_emotion.training.datasets.eav_layout import MODALITIES
from edge_emotion.training.models.pretrained import load_pretrained
from edge_emotion.training.models.transformer import (
    AudioConfig,
    Block,
    EEGConfig,
    EEGTransformer,
    SpectrogramTransformer,
    VideoConfig,
    VisionTransformer,
)

FUSIONS = ("attention", "concat_linear")


@dataclass(frozen=True)
class EAVModelConfig:
    """Whole model. ``modalities`` selects the encoders (one = unimodal baseline)."""

    modalities: tuple[str, ...] = MODALITIES
    fusion: str = "attention"
    n_classes: int = 5
    fusion_dim: int = 64
    fusion_depth: int = 1
    fusion_heads: int = 4
    tokens_per_modality: int = 4
    modality_dropout: float = 0.25
    dropout: float = 0.1
    eeg: EEGConfig = field(default_factory=EEGConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    # modality -> local weights file (models.pretrained: Hugging Face AST/ViT or our own naming)
    pretrained: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(
                f"modalities must be distinct names from {MODALITIES}, got {self.modalities}"
            )
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("modality_dropout must be in [0, 1)")
        if self.tokens_per_modality < 1:
            raise ValueError("tokens_per_modality must be >= 1")
        if self.n_classes < 2:
            raise ValueError("n_classes must be >= 2")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EAVModelConfig:
        d = dict(d)
        sub = {"eeg": EEGConfig, "audio": AudioConfig, "video": VideoConfig}
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown EAV model config keys: {sorted(unknown)}")
        for k, typ in sub.items():
            if isinstance(d.get(k), dict):
                d[k] = typ(**d[k])
        if "modalities" in d:
            d["modalities"] = tuple(d["modalities"])
        return cls(**d)


def preset(name: str = "edge", **overrides) -> EAVModelConfig:
    """``"edge"``: small widths for a Jetson; ``"paper"``: ViT-B/16 on 25 frames of 224 px,
    AST-base on 128-mel x 501-frame spectrograms with stride-10 patches, the reference
    12-layer, 40-wide EEG transformer, a 768-wide fusion."""
    if name == "edge":
        base = EAVModelConfig()
    elif name == "paper":
        base = EAVModelConfig(
            fusion_dim=768,
            fusion_heads=12,
            fusion_depth=1,
            eeg=EEGConfig(filters=40, dim=40, depth=12, heads=4, kernel=13, pool=35, stride=7),
            audio=AudioConfig(
                n_mels=128, frames=501, patch=16, stride=10, dim=768, depth=12, heads=12
            ),
            video=VideoConfig(frames=25, image_size=224, patch=16, dim=768, depth=12, heads=12),
        )
    else:
        raise ValueError(f"preset must be 'edge' or 'paper', got {name!r}")
    return replace(base, **overrides)


class EAVFusionModel(nn.Module):
    """Encoders for ``config.modalities`` and a fusion head (see the module docstring)."""

    def __init__(self, config: EAVModelConfig) -> None:
        super().__init__()
        self.config = c = config
        builders = {
            "eeg": lambda: EEGTransformer(c.eeg),
            "audio": lambda: SpectrogramTransformer(c.audio),
            "video": lambda: VisionTransformer(c.video),
        }
        self.encoders = nn.ModuleDict({m: builders[m]() for m in c.modalities})
        dims = {"eeg": c.eeg.dim, "audio": c.audio.dim, "video": c.video.dim}
        self.index = [MODALITIES.index(m) for m in c.modalities]
        if len(c.modalities) == 1:
            m = c.modalities[0]
            self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(dims[m], c.n_classes))
        elif c.fusion == "attention":
            self.proj = nn.ModuleDict({m: nn.Linear(dims[m], c.fusion_dim) for m in c.modalities})
            self.modality_embed = nn.Parameter(torch.zeros(len(c.modalities), c.fusion_dim))
            self.slot_embed = nn.Parameter(torch.zeros(c.tokens_per_modality, c.fusion_dim))
            self.fusion_cls = nn.Parameter(torch.zeros(1, 1, c.fusion_dim))
            for p in (self.modality_embed, self.slot_embed, self.fusion_cls):
                nn.init.trunc_normal_(p, std=0.02)
            self.blocks = nn.ModuleList(
                Block(c.fusion_dim, c.fusion_heads, 4.0, c.dropout) for _ in range(c.fusion_depth)
            )
            self.norm = nn.LayerNorm(c.fusion_dim)
            self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.fusion_dim, c.n_classes))
        else:  # reference's dense-layer fusion: concatenated [CLS] -> one linear layer
            width = sum(dims[m] for m in c.modalities)
            self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(width, c.n_classes))
        for m, path in (c.pretrained or {}).items():
            if m not in self.encoders:
                raise ValueError(
                    f"pretrained weights given for {m!r}, not a modality of this model"
                )
            load_pretrained(self.encoders[m], path, prefix=f"encoders.{m}.")

    def _drop_modalities(self, mask: torch.Tensor) -> torch.Tensor:
        p = self.config.modality_dropout
        if not self.training or p == 0 or mask.shape[1] < 2:
            return mask
        keep = mask & (torch.rand(mask.shape, device=mask.device) >= p)
        # never drop everything: fall back to the sample's own mask where all were dropped
        empty = ~keep.any(dim=1, keepdim=True)
        return torch.where(empty, mask, keep)

    def _group_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """[CLS] plus the rest averaged into tokens_per_modality - 1 contiguous groups."""
        k = self.config.tokens_per_modality
        if k == 1:
            return tokens[:, :1]
        rest = F.adaptive_avg_pool1d(tokens[:, 1:].transpose(1, 2), k - 1).transpose(1, 2)
        return torch.cat([tokens[:, :1], rest], dim=1)

    def features(
        self,
        eeg: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The representation before the classifier (B, width)."""
        inputs = {"eeg": eeg, "audio": audio, "video": video}
        c = self.config
        missing = [m for m in c.modalities if inputs[m] is None]
        if missing:
            raise ValueError(f"inputs missing for modalities {missing} (pass zeros and mask them)")
        b = inputs[c.modalities[0]].shape[0]
        device = inputs[c.modalities[0]].device
        if mask is None:
            present = torch.ones(b, len(c.modalities), dtype=torch.bool, device=device)
        else:
            if mask.ndim != 2 or mask.shape[1] != len(MODALITIES):
                raise ValueError(
                    f"mask must have shape (B, {len(MODALITIES)}), got {tuple(mask.shape)}"
                )
            present = mask[:, self.index].float() > 0.5
        present = self._drop_modalities(present)
        cls = {m: self.encoders[m](inputs[m]) for m in c.modalities}
        if len(c.modalities) == 1:
            return cls[c.modalities[0]][:, 0]
        if c.fusion == "concat_linear":
            # a missing modality contributes zeros, so its weights see no input
            parts = [cls[m][:, 0] * present[:, i : i + 1] for i, m in enumerate(c.modalities)]
            return torch.cat(parts, dim=1)
        toks, keys = [self.fusion_cls.expand(b, -1, -1)], [present.new_ones(b, 1)]
        for i, m in enumerate(c.modalities):
            t = self.proj[m](self._group_tokens(cls[m])) + self.modality_embed[i] + self.slot_embed
            toks.append(t)
            keys.append(present[:, i : i + 1].expand(-1, t.shape[1]))
        x = torch.cat(toks, dim=1)
        key_mask = torch.cat(keys, dim=1)
        for blk in self.blocks:
            x = blk(x, key_mask)
        return self.norm(x[:, 0])

    def forward(
        self,
        eeg: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        video: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.head(self.features(eeg, audio, video, mask))


def build_eav_model(config: dict | EAVModelConfig | None = None) -> EAVFusionModel:
    """Model from a config dict (JSON form, see :class:`EAVModelConfig`) or dataclass.

    A dict may carry ``"preset": "edge" | "paper"``; its other keys override the preset.
    """
    if config is None:
        return EAVFusionModel(preset("edge"))
    if isinstance(config, EAVModelConfig):
        return EAVFusionModel(config)
    d = dict(config)
    base = preset(d.pop("preset", "edge")).to_dict()
    for k in ("eeg", "audio", "video"):
        if k in d:
            base[k] = {**base[k], **d.pop(k)}
    base.update(d)
    return EAVFusionModel(EAVModelConfig.from_dict(base))


def config_dict(config: Mapping[str, Any] | EAVModelConfig) -> dict[str, Any]:
    """The JSON form of ``config`` (a dict is checked by :class:`EAVModelConfig` first)."""
    if not isinstance(config, EAVModelConfig):
        config = EAVModelConfig.from_dict(config)
    return config.to_dict()


def build_for_weights(config: Mapping[str, Any] | EAVModelConfig) -> EAVFusionModel:
    """The model ``config`` describes, freshly initialised, without reading the pretrained
    files it names: the form a checkpoint's or a bundle's own weights are loaded into."""
    if not isinstance(config, EAVModelConfig):
        config = EAVModelConfig.from_dict(config)
    return EAVFusionModel(replace(config, pretrained={}))


def example_inputs(
    config: Mapping[str, Any] | EAVModelConfig, batch: int = 2
) -> dict[str, torch.Tensor]:
    """Random inputs by name, in ``forward``'s order (export, FLOP counting, tests)."""
    g = torch.Generator().manual_seed(0)
    c = config if isinstance(config, EAVModelConfig) else EAVModelConfig.from_dict(config)
    return {
        "eeg": torch.randn(batch, c.eeg.channels, c.eeg.samples, generator=g),
        "audio": torch.randn(batch, c.audio.n_mels, c.audio.frames, generator=g),
        "video": torch.rand(
            batch, c.video.frames, 3, c.video.image_size, c.video.image_size, generator=g
        ),
        "mask": torch.ones(batch, len(MODALITIES)),
    }


def model_config_for_data(
    data_shapes: dict[str, tuple[int, ...]], base: EAVModelConfig
) -> EAVModelConfig:
    """``base`` with its input sizes set from ``EAVConfig.shapes``."""
    eeg, audio, video = data_shapes["eeg"], data_shapes["audio"], data_shapes["video"]
    patch = min(base.audio.patch, audio[0], audio[1])
    vpatch = (
        base.video.patch
        if video[2] % base.video.patch == 0
        else math.gcd(video[2], base.video.patch)
    )
    return replace(
        base,
        eeg=replace(base.eeg, channels=eeg[0], samples=eeg[1], pool=min(base.eeg.pool, eeg[1])),
        audio=replace(
            base.audio,
            n_mels=audio[0],
            frames=audio[1],
            patch=patch,
            stride=min(base.audio.stride, patch),
        ),
        video=replace(base.video, frames=video[0], image_size=video[2], patch=vpatch),
    )
