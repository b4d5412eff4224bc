"""Fixed-size ring buffers that hand out the newest samples as a contiguous view.

Every sample is written twice (at ``i`` and ``i + capacity``), so the newest ``n``
samples are always one contiguous slice: reading a window costs no copy, and memory is
allocated once, at construction, however long the run.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The newest ``capacity`` columns of a ``(channels, samples)`` stream.

    ``dtype`` is any numpy dtype (float64 for signals, int64 for counts).
    """

    def __init__(self, n_channels: int, capacity: int, dtype=np.float64) -> None:
        if not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.n_channels = int(n_channels)
        self.capacity = int(capacity)
        self._buf = np.zeros((self.n_channels, 2 * self.capacity), dtype=dtype)
        self._pos = 0  # next write position in [0, capacity)
        self.count = 0  # samples held, <= capacity
        self.total = 0  # samples ever pushed

    def __len__(self) -> int:
        return self.count

    def clear(self) -> None:
        self._buf[:] = 0
        self._pos = 0
        self.count = 0

    def push(self, chunk: np.ndarray) -> None:
        """Append ``chunk`` (channels, n); older samples beyond ``capacity`` are dropped."""
        chunk = np.asarray(chunk)
        if chunk.ndim == 1 and self.n_channels == 1:
            chunk = chunk[None, :]
        if chunk.ndim != 2 or chunk.shape[0] != self.n_channels:
            raise ValueError(
                f"chunk must have shape ({self.n_channels}, n), got {tuple(chunk.shape)}"
            )
        n = chunk.shape[1]
        self.total += n
        if n >= self.capacity:
            chunk = chunk[:, n - self.capacity :]
            n = self.capacity
        cap = self.capacity
        first = min(n, cap - self._pos)
        for offset in (0, cap):
            self._buf[:, offset + self._pos : offset + self._pos + first] = chunk[:, :first]
            if first < n:
                self._buf[:, offset : offset + n - first] = chunk[:, first:]
        self._pos = (self._pos + n) % cap
        self.count = min(self.count + n, cap)

    def latest(self, n: int | None = None) -> np.ndarray:
        """A read-only view of the newest ``n`` samples (all held samples by default)."""
        n = self.count if n is None else int(n)
        if not 0 <= n <= self.count:
            raise ValueError(f"n must be between 0 and {self.count} (samples held), got {n}")
        end = self._pos + self.capacity
        view = self._buf[:, end - n : end]
        view.flags.writeable = False
        return view
