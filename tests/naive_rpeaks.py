"""Slow, obviously-correct twins of the R-peak kernels' parts, for the tests."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal import sosfilt


def naive_front_end(x: np.ndarray, sos: np.ndarray, fs: float, mwi_len: int):
    """Band-passed ECG, squared five-point derivative and its trailing moving average.

    The whole signal at once with SciPy: ``sosfilt`` from rest on ``x - x[0]``,
    derivative ``(2b[n] + b[n-1] - b[n-3] - 2b[n-4]) fs / 8`` with zeros before the
    start, and the MWI as the mean of the last ``mwi_len`` squared values.
    """
    b = sosfilt(np.array(sos, np.float64), np.asarray(x, np.float64) - float(x[0]))
    bp = np.concatenate([np.zeros(4), b])
    d = (2 * bp[4:] + bp[3:-1] - bp[1:-3] - 2 * bp[:-4]) * fs / 8.0
    sq = d * d
    csum = np.concatenate([[0.0], np.cumsum(sq)])
    n = np.arange(1, sq.size + 1)
    mwi = (csum[n] - csum[np.maximum(n - mwi_len, 0)]) / mwi_len
    return b, sq, mwi


def naive_match_count(detected, reference, fs: float, tolerance_s: float = 0.150) -> int:
    """Largest number of one-to-one pairs closer than the tolerance (assignment problem)."""
    det = np.asarray(detected, np.float64)
    ref = np.asarray(reference, np.float64)
    if det.size == 0 or ref.size == 0:
        return 0
    dist = np.abs(det[:, None] - ref[None, :])
    ok = dist <= tolerance_s * fs
    cost = np.where(ok, 0.0, 1.0)
    rows, cols = linear_sum_assignment(cost)
    return int(ok[rows, cols].sum())
