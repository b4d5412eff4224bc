"""Band differential entropy of a stream: :class:`StreamingBandDE`, the device's EEG feature.

The same DE map as :func:`edge_emotion.kernels.de.band_de_map` with ``zero_phase=False``
(causal filters, each channel's filters in the steady state for its first sample), for
the window ending at the newest sample, updated chunk by chunk at O(chunk) cost. The
constants, the definitions and the input checks are :mod:`edge_emotion.kernels.de`'s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import as_signal, check_fs, check_positive_int
from edge_emotion.kernels.de import (
    DEFAULT_BANDS,
    EEG_MAX_ABS,
    LOG_2PIE,
    VAR_FLOOR,
    band_filters,
    check_bands,
    eeg_input_error,
    window_layout,
)

# The streaming update's channel loops are vectorised by LLVM; one AVX-512 register of
# lanes keeps an 8-channel board at one vector (the batch filters pad to 16).
_STREAM_LANES = 8

__all__ = ["StreamingBandDE"]


@njit(cache=True, fastmath={"contract"})  # one rounding per multiply-add
def _stream_update(
    chunk, sos, z, offset, pre, n_seen, sub_len, n_sub, log_2pie, var_floor, max_abs, de_out
):
    """Filter ``chunk`` causally, extend the per-block prefix sums, refresh the DE map.

    ``z`` ``(2, bands, sections, lanes)``: filter state. ``offset`` ``(channels,)``: each
    channel's first sample, set from ``chunk`` when ``n_seen == 0`` and subtracted from
    every sample before filtering (steady-state start, see the module docstring).
    ``pre`` ``(n_sub + 1, sub_len, 2, bands, lanes)``: a ring of blocks of ``sub_len``
    samples; ``pre[q % (n_sub+1), r]`` holds the sum (and sum of squares) of the first
    ``r + 1`` filtered samples of block ``q``. The sum over any ``sub_len`` consecutive
    samples is then O(1): (block total - head of its first block) + head of the next
    block. Sums restart every block, so they never grow long enough to lose precision.

    Returns the new sample count, or -1 (nothing changed) if ``chunk`` holds NaN or a
    sample above ``max_abs`` in magnitude.
    The section loop is written out here rather than calling the filters module,
    because Numba's cache does not notice changes to functions in other files.
    """
    n_ch, n = chunk.shape
    for c in range(n_ch):
        for t in range(n):
            if not abs(chunk[c, t]) <= max_abs:
                return -1
    _, n_bands, n_sec, lanes = z.shape
    n_ring = pre.shape[0]
    if n_seen == 0 and n > 0:
        for c in range(n_ch):
            offset[c] = chunk[c, 0]
    row = np.zeros((n_bands, lanes))
    for t in range(n):
        for b in range(n_bands):
            for c in range(n_ch):
                row[b, c] = chunk[c, t] - offset[c]
        for b in range(n_bands):
            r = row[b]
            for s in range(n_sec):
                b0 = sos[b, s, 0]
                b1 = sos[b, s, 1]
                b2 = sos[b, s, 2]
                a1 = sos[b, s, 4]
                a2 = sos[b, s, 5]
                z0 = z[0, b, s]
                z1 = z[1, b, s]
                for c in range(lanes):
                    xi = r[c]
                    y = b0 * xi + z0[c]
                    z0[c] = b1 * xi - a1 * y + z1[c]
                    z1[c] = b2 * xi - a2 * y
                    r[c] = y
        q = n_seen // sub_len
        k = n_seen % sub_len
        slot = q % n_ring
        for b in range(n_bands):
            r = row[b]
            s1 = pre[slot, k, 0, b]
            s2 = pre[slot, k, 1, b]
            if k == 0:
                for c in range(lanes):
                    s1[c] = r[c]
                    s2[c] = r[c] * r[c]
            else:
                p1 = pre[slot, k - 1, 0, b]
                p2 = pre[slot, k - 1, 1, b]
                for c in range(lanes):
                    s1[c] = p1[c] + r[c]
                    s2[c] = p2[c] + r[c] * r[c]
        n_seen += 1
    if n > 0 and n_seen >= n_sub * sub_len:
        q_last = n_seen // sub_len
        k = n_seen % sub_len
        n_ch_out = de_out.shape[1]
        for j in range(n_sub):
            qa = (q_last - n_sub + j) % n_ring
            qb = (q_last - n_sub + j + 1) % n_ring
            for b in range(n_bands):
                for c in range(n_ch_out):
                    s1 = pre[qa, sub_len - 1, 0, b, c]
                    s2 = pre[qa, sub_len - 1, 1, b, c]
                    if k > 0:
                        s1 += pre[qb, k - 1, 0, b, c] - pre[qa, k - 1, 0, b, c]
                        s2 += pre[qb, k - 1, 1, b, c] - pre[qa, k - 1, 1, b, c]
                    mean = s1 / sub_len
                    var = max(s2 / sub_len - mean * mean, var_floor)
                    de_out[b, c, j] = 0.5 * (log_2pie + math.log(var))
    return n_seen


class StreamingBandDE:
    """Band DE map over the last window of a stream, updated chunk by chunk.

    ``update(chunk)`` takes ``(n_channels, n)`` samples (µV; any n, including 0) and
    costs O(n); ``de_map()`` returns ``(bands, n_channels, window_s / subwindow_s)`` for
    the window ending at the newest sample, equal (to float rounding) to
    ``band_de_map(all_samples_so_far, fs, bands, subwindow_s, zero_phase=False)[..., -K:]``
    (and :func:`~edge_emotion.kernels.de.band_de_windows` with that window's end).
    Filtering is causal; each channel's filters start in the steady state for its first
    sample (the first sample, kept in the state, is subtracted from every sample), so an
    electrode offset causes no start-up transient and the first window is already right.

    Each update is one compiled call: filter the chunk, extend per-block prefix sums and
    sums of squares (blocks of one sub-window), and refresh the map, whose sub-window
    sums are O(1) differences of those prefixes.
    """

    def __init__(
        self,
        fs: float,
        n_channels: int,
        bands=DEFAULT_BANDS,
        window_s: float = 10.0,
        subwindow_s: float = 1.0,
    ) -> None:
        self.fs = check_fs(fs)
        self.n_channels = check_positive_int(n_channels, "n_channels")
        self.bands = check_bands(bands, self.fs)
        self._sos, _, _ = band_filters(self.bands, self.fs)
        self.sub_len, self.n_subwindows = window_layout(window_s, subwindow_s, self.fs)
        self.window_len = self.sub_len * self.n_subwindows
        lanes = -(-self.n_channels // _STREAM_LANES) * _STREAM_LANES
        n_bands, n_sec = self._sos.shape[:2]
        self._z = np.zeros((2, n_bands, n_sec, lanes))
        self._offset = np.zeros(self.n_channels)  # first sample per channel, set by update
        self._pre = np.zeros((self.n_subwindows + 1, self.sub_len, 2, n_bands, lanes))
        self._map = np.zeros((n_bands, self.n_channels, self.n_subwindows))
        self.samples_seen = 0

    @property
    def ready(self) -> bool:
        """True once a whole window (``window_s * fs`` samples) has been seen."""
        return self.samples_seen >= self.window_len

    def reset(self) -> None:
        """Forget the stream: no samples seen; the next sample sets the channel offsets."""
        self._z[...] = 0.0
        self._offset[...] = 0.0
        self._pre[...] = 0.0
        self._map[...] = 0.0
        self.samples_seen = 0

    def update(self, chunk) -> None:
        """Feed the next ``(n_channels, n)`` samples in µV."""
        # Per-hop Python work is kept to a few attribute checks; finiteness and the range
        # (EEG_MAX_ABS) are checked inside the compiled update, before any state changes.
        if type(chunk) is not np.ndarray or chunk.dtype != np.float64 or chunk.ndim != 2:
            chunk = as_signal(chunk, "chunk", ndim=2, min_samples=0, allow_nonfinite=True)
        elif not chunk.flags.c_contiguous:
            chunk = np.ascontiguousarray(chunk)
        if chunk.shape[0] != self.n_channels:
            raise ValueError(
                f"chunk must have {self.n_channels} channels (rows), got shape {chunk.shape}"
            )
        seen = _stream_update(
            chunk,
            self._sos,
            self._z,
            self._offset,
            self._pre,
            self.samples_seen,
            self.sub_len,
            self.n_subwindows,
            LOG_2PIE,
            VAR_FLOOR,
            EEG_MAX_ABS,
            self._map,
        )
        if seen < 0:
            raise eeg_input_error(chunk, "chunk")
        self.samples_seen = seen

    def de_map(self) -> np.ndarray:
        """``(bands, channels, subwindows)`` DE of the last window (a new array)."""
        if not self.ready:
            raise RuntimeError(
                f"StreamingBandDE needs {self.window_len} samples for a window, "
                f"has seen {self.samples_seen}; check .ready first"
            )
        return self._map.copy()
