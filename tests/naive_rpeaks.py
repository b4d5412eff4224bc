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


def naive_extrema(x: np.ndarray, k: int, pre: int, post: int, base: int, smooth: int, n_avail: int):
    """Positive and negative extremum of the smoothed ECG about the local baseline line.

    ``x`` is the ECG as the detector holds it (first sample subtracted). Window
    [k - pre, k - post] and baseline spans of ``base`` samples either side, clipped to
    [0, n_avail); centred mean over ``smooth`` samples (raw within smooth // 2 of the
    start); baseline: the line through the span means, at the spans' centres. Returns
    ``(jp, ap, jn, an, whole)`` as ``rpeaks._extrema`` does (ap, an >= 0).
    """
    lo, hi = max(k - pre, 0), min(k - post, n_avail - 1)
    b0, e1 = max(lo - base, 0), min(hi + base, n_avail - 1)
    whole = k - pre - base >= 0 and k - post + base <= n_avail - 1
    hs = smooth // 2
    s = np.array([x[j] if j < hs else x[j - hs : j + hs + 1].mean() for j in range(b0, e1 + 1)])
    m1, m2 = s[: lo - b0 + 1].mean(), s[hi - b0 :].mean()
    c1, c2 = 0.5 * (b0 + lo), 0.5 * (hi + e1)
    j = np.arange(lo, hi + 1)
    dev = s[lo - b0 : hi - b0 + 1] - (m1 + (m2 - m1) / (c2 - c1) * (j - c1))
    ip, i_n = int(np.argmax(dev)), int(np.argmin(dev))
    ap, an = max(dev[ip], 0.0), max(-dev[i_n], 0.0)
    return (lo + ip if ap > 0 else lo), ap, (lo + i_n if an > 0 else lo), an, whole
