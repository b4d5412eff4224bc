"""A numpy twin of the block statistics behind the quality windows.

Slow and obviously right: every block's samples are kept, and a window is the
concatenation of the newest blocks, measured with ``np.std`` and plain counts.
``edge_emotion.kernels.blockstats`` is checked against this.
"""

from __future__ import annotations

import numpy as np


class NaiveBlockStatistics:
    def __init__(self, n_channels: int, n_blocks: int, saturation: float) -> None:
        self.n_channels, self.n_blocks, self.saturation = n_channels, n_blocks, saturation
        self.closed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.open: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, values, missing, raw) -> None:
        self.open.append((np.asarray(values, float), np.asarray(missing, bool), np.asarray(raw)))

    def close_block(self) -> None:
        empty = np.zeros((self.n_channels, 0))
        parts = self.open or [(empty, empty.astype(bool), empty)]
        self.closed.append(tuple(np.concatenate(p, axis=1) for p in zip(*parts, strict=True)))
        self.closed = self.closed[-self.n_blocks :]
        self.open = []

    def window(self, flat_std: float = 0.0) -> dict[str, np.ndarray]:
        n_ch = self.n_channels
        if not self.closed:
            zeros = np.zeros(n_ch)
            return dict(count=zeros, std=zeros, missing=zeros, saturated=zeros, flat=zeros)
        values = np.concatenate([b[0] for b in self.closed], axis=1)
        missing = np.concatenate([b[1] for b in self.closed], axis=1)
        raw = np.concatenate([b[2] for b in self.closed], axis=1)
        with np.errstate(invalid="ignore"):
            saturated = (np.abs(raw) >= self.saturation).sum(axis=1)
        flat = np.zeros(n_ch)
        for v, _, _ in self.closed:
            if v.shape[1]:
                flat += v.std(axis=1) < flat_std
        return dict(
            count=np.full(n_ch, float(values.shape[1])),
            std=values.std(axis=1) if values.shape[1] else np.zeros(n_ch),
            missing=missing.sum(axis=1).astype(float),
            saturated=saturated.astype(float),
            flat=flat / len(self.closed),
        )
