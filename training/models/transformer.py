"""Transformer encoders of the EEG + audio + video family (arXiv 2411.00822), plain torch.

- :class:`Attention`, :class:`Block` (pre-norm), :class:`Encoder` ([CLS] + learned positions
  + blocks + final norm): the parts every encoder is made of.
- :class:`EEGTransformer`: convolutional front end (temporal conv, then a spatial conv across
  all electrodes, as in ShallowConvNet / EEG-Conformer) that turns (channels, time) into a
  sequence of temporal tokens, then a transformer encoder.
- :class:`SpectrogramTransformer`: AST-style (Gong et al., Interspeech 2021) — a log-mel
  spectrogram cut into (optionally overlapping) 2-D patches, a [CLS] token, learned positions.
- :class:`VisionTransformer`: ViT (Dosovitskiy et al., ICLR 2021) applied to each sampled video
  frame; the per-frame [CLS] outputs plus a learned time embedding form the video's tokens.

The fusion model that combines them: :mod:`.eav_fusion`; public pretrained weights for the
audio and video encoders: :mod:`.pretrained`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    """Multi-head self-attention with an optional key mask (B, N) bool, True = attend."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        attn = self.drop(scores.softmax(dim=-1))
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block (attention + GELU MLP)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    """[CLS] + learned positions + blocks + final norm over a (B, N, dim) token sequence."""

    def __init__(self, n_tokens: int, dim: int, depth: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n_tokens + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, 4.0, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# --------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class EEGConfig:
    channels: int = 30
    samples: int = 500  # 5 s at 100 Hz
    filters: int = 16
    kernel: int = 13
    pool: int = 35
    stride: int = 7
    dim: int = 64
    depth: int = 2
    heads: int = 4
    dropout: float = 0.1


class EEGTransformer(nn.Module):
    """(B, channels, samples) -> tokens (B, 1 + n, dim); token 0 is [CLS].

    Front end: ``filters`` spatial filters (a 1x1 convolution across electrodes), then a
    depthwise temporal convolution giving each spatial component ``dim / filters`` temporal
    filters, batch norm, ELU, average pooling into tokens. Because both convolutions are
    linear, this equals the reference's temporal-conv-then-per-filter-spatial-projection
    (ShallowConvNet-style) when ``dim == filters``, at a fraction of the cost: the temporal
    filters run on ``filters`` components instead of on every electrode.
    """

    def __init__(self, c: EEGConfig) -> None:
        super().__init__()
        self.config = c
        if c.dim % c.filters:
            raise ValueError(f"EEG dim ({c.dim}) must be a multiple of filters ({c.filters})")
        self.spatial = nn.Conv1d(c.channels, c.filters, 1, bias=False)
        self.temporal = nn.Conv1d(
            c.filters, c.dim, c.kernel, padding=c.kernel // 2, groups=c.filters, bias=False
        )
        self.bn = nn.BatchNorm1d(c.dim)
        self.pool = nn.AvgPool1d(c.pool, stride=c.stride)
        n = (c.samples - c.pool) // c.stride + 1
        if n < 1:
            raise ValueError(
                f"EEG samples ({c.samples}) shorter than the pooling window ({c.pool})"
            )
        self.n_tokens = n
        self.drop = nn.Dropout(c.dropout)
        self.encoder = Encoder(n, c.dim, c.depth, c.heads, c.dropout)

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        x = self.temporal(self.spatial(eeg))  # B, dim, T
        x = self.pool(F.elu(self.bn(x)))  # B, dim, n
        return self.encoder(self.drop(x.transpose(1, 2)))


@dataclass(frozen=True)
class AudioConfig:
    n_mels: int = 64
    frames: int = 251  # 5 s, 20 ms hop
    patch: int = 16
    stride: int = 16  # AST uses 10 (overlapping patches)
    dim: int = 64
    depth: int = 2
    heads: int = 4
    dropout: float = 0.1


class SpectrogramTransformer(nn.Module):
    """AST-style: (B, n_mels, frames) -> tokens (B, 1 + n_patches, dim)."""

    def __init__(self, c: AudioConfig) -> None:
        super().__init__()
        self.config = c
        if c.n_mels < c.patch or c.frames < c.patch:
            raise ValueError(f"spectrogram {c.n_mels}x{c.frames} smaller than patch {c.patch}")
        self.patch = nn.Conv2d(1, c.dim, c.patch, stride=c.stride)
        n = ((c.n_mels - c.patch) // c.stride + 1) * ((c.frames - c.patch) // c.stride + 1)
        self.n_tokens = n
        self.encoder = Encoder(n, c.dim, c.depth, c.heads, c.dropout)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.patch(spec.unsqueeze(1)).flatten(2).transpose(1, 2)
        return self.encoder(x)


@dataclass(frozen=True)
class VideoConfig:
    frames: int = 5
    image_size: int = 64
    patch: int = 16
    dim: int = 64
    depth: int = 2
    heads: int = 4
    dropout: float = 0.1


class VisionTransformer(nn.Module):
    """ViT per frame: (B, F, 3, H, W) in [0, 1] -> tokens (B, 1 + F, dim): the mean of the
    per-frame [CLS] outputs, then each frame's [CLS] plus a learned time embedding."""

    def __init__(self, c: VideoConfig) -> None:
        super().__init__()
        self.config = c
        if c.image_size % c.patch:
            raise ValueError(f"image_size ({c.image_size}) must be a multiple of patch ({c.patch})")
        self.patch = nn.Conv2d(3, c.dim, c.patch, stride=c.patch)
        self.encoder = Encoder((c.image_size // c.patch) ** 2, c.dim, c.depth, c.heads, c.dropout)
        self.time = nn.Parameter(torch.zeros(1, c.frames, c.dim))
        nn.init.trunc_normal_(self.time, std=0.02)

    def frame_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> ViT tokens (N, 1 + patches, dim)."""
        x = self.patch((frames - 0.5) / 0.5).flatten(2).transpose(1, 2)
        return self.encoder(x)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if not video.is_floating_point():  # uint8 frames keep datasets 4x smaller
            video = video.float() / 255.0
        b, f = video.shape[:2]
        cls = self.frame_tokens(video.flatten(0, 1))[:, 0].reshape(b, f, -1)
        return torch.cat([cls.mean(dim=1, keepdim=True), cls + self.time], dim=1)
