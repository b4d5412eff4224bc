"""Per-channel statistics of a stream in blocks, combined over the newest blocks.

A signal-quality check looks at a window (10 s) every hop (0.25 s). Statistics are
accumulated per hop-sized block as samples arrive — count, mean and centred sum of
squares by Welford's update (B. P. Welford, Technometrics 4(3), 1962), plus counts of
missing and saturated samples — and blocks are combined with the pairwise formula of
Chan, Golub & LeVeque ("Algorithms for computing the sample variance", 1983), so a
window costs a sum over its 40 blocks rather than a pass over its samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from edge_emotion.kernels.ringbuffer import RingBuffer

# Rows of a block, per channel: count, mean, M2, missing, saturated.
_ROWS = 5


@dataclass(frozen=True)
class WindowStatistics:
    """Per-channel statistics of the closed blocks of a window, arrays of (channels,).

    ``count``: samples; ``std``: population standard deviation; ``missing`` and
    ``saturated``: samples marked missing / at or beyond the rail; ``flat_fraction``: the
    share of blocks whose own standard deviation is under the ``flat_std`` asked for.
    """

    count: np.ndarray
    std: np.ndarray
    missing: np.ndarray
    saturated: np.ndarray
    flat_fraction: np.ndarray


class BlockStatistics:
    """Running statistics of the newest ``n_blocks`` blocks of a ``(channels, samples)``
    stream.

    ``add(values, missing, raw)`` accumulates samples into the open block;
    ``close_block()`` ends it (a runtime calls it every hop); ``window()`` combines the
    closed blocks. ``values`` are the samples as used onward (finite: missing ones
    already replaced), ``missing`` marks the replaced ones, and ``raw`` are the values
    as delivered, from which ``|raw| >= saturation`` counts as saturated (NaN does not).
    Memory is allocated once, at construction.
    """

    def __init__(self, n_channels: int, n_blocks: int, saturation: float) -> None:
        for name, value in (("n_channels", n_channels), ("n_blocks", n_blocks)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not np.isfinite(saturation) or saturation <= 0:
            raise ValueError(f"saturation must be a positive number, got {saturation!r}")
        self.n_channels = int(n_channels)
        self.n_blocks = int(n_blocks)
        self.saturation = float(saturation)
        self._blocks = RingBuffer(_ROWS * self.n_channels, self.n_blocks)
        self._open = np.zeros((_ROWS, self.n_channels))

    def reset(self) -> None:
        self._blocks.clear()
        self._open[:] = 0.0

    def add(self, values: np.ndarray, missing: np.ndarray, raw: np.ndarray) -> None:
        """Accumulate ``values`` (finite), ``missing`` (bool) and ``raw``, each of shape
        (channels, n), into the open block; ``ValueError`` (nothing added) otherwise."""
        shape = np.shape(values)
        if len(shape) != 2 or shape[0] != self.n_channels:
            raise ValueError(f"values must have shape ({self.n_channels}, n), got {shape}")
        for name, arr in (("missing", missing), ("raw", raw)):
            if np.shape(arr) != shape:
                raise ValueError(
                    f"{name} must have the shape of values {shape}, got {np.shape(arr)}"
                )
        if not shape[1]:
            return
        if not _accumulate(
            np.ascontiguousarray(values, dtype=np.float64),
            np.ascontiguousarray(missing, dtype=np.bool_),
            np.ascontiguousarray(raw, dtype=np.float64),
            self.saturation,
            self._open,
        ):
            raise ValueError("values must be finite; replace missing samples before add()")

    def close_block(self) -> None:
        self._blocks.push(self._open.reshape(-1, 1))
        self._open[:] = 0.0

    def window(self, flat_std: float = 0.0) -> WindowStatistics:
        """The closed blocks (at most ``n_blocks``) combined; a block is flat when its
        standard deviation is under ``flat_std`` (signal units)."""
        out = np.empty((_ROWS, self.n_channels))
        _combine(self._blocks.latest(), self.n_channels, float(flat_std), out)
        return WindowStatistics(
            count=out[0], std=out[1], missing=out[2], saturated=out[3], flat_fraction=out[4]
        )


@njit(cache=True)
def _accumulate(values, missing, raw, rail, block):
    # Welford's update per sample into the open block (rows: n, mean, M2, missing, railed);
    # NaN in ``raw`` compares False against the rail, so it is not counted as saturated.
    # Returns False, adding nothing, when a value is not finite.
    n_ch, n = values.shape
    for c in range(n_ch):
        for i in range(n):
            if not np.isfinite(values[c, i]):
                return False
    for c in range(n_ch):
        cnt = block[0, c]
        mean = block[1, c]
        m2 = block[2, c]
        miss = 0
        sat = 0
        for i in range(n):
            x = values[c, i]
            cnt += 1.0
            d = x - mean
            mean += d / cnt
            m2 += d * (x - mean)
            if missing[c, i]:
                miss += 1
            if abs(raw[c, i]) >= rail:
                sat += 1
        block[0, c] = cnt
        block[1, c] = mean
        block[2, c] = m2
        block[3, c] += miss
        block[4, c] += sat
    return True


@njit(cache=True)
def _combine(blocks, n_ch, flat_std, out):
    # blocks rows: [count, mean, M2, missing, railed] x channels; columns: blocks, oldest
    # first (the order fixes the floating-point sums).
    nb = blocks.shape[1]
    for c in range(n_ch):
        total = 0.0
        s = 0.0
        for j in range(nb):
            total += blocks[c, j]
            s += blocks[c, j] * blocks[n_ch + c, j]
        safe = max(total, 1.0)
        mean = s / safe
        m2 = 0.0
        miss = 0.0
        sat = 0.0
        flat = 0
        for j in range(nb):
            n = blocks[c, j]
            d = blocks[n_ch + c, j] - mean
            m2 += blocks[2 * n_ch + c, j] + n * d * d
            miss += blocks[3 * n_ch + c, j]
            sat += blocks[4 * n_ch + c, j]
            if n > 0 and np.sqrt(max(blocks[2 * n_ch + c, j], 0.0) / n) < flat_std:
                flat += 1
        out[0, c] = total
        out[1, c] = np.sqrt(max(m2, 0.0) / safe)
        out[2, c] = miss
        out[3, c] = sat
        out[4, c] = flat / nb if nb else 0.0
