"""Slow, obviously-correct NumPy twins of edge_emotion.kernels.hrv (test reference only)."""

from __future__ import annotations

import numpy as np


def rr_intervals(peaks, fs):
    p = np.asarray(peaks, dtype=np.int64)
    return np.diff(p) / fs * 1000.0


def clean_rr(rr, threshold=0.2, half_window=3, lo=240.0, hi=2000.0, action="correct"):
    rr = np.asarray(rr, dtype=np.float64)
    n = len(rr)
    flags = np.zeros(n, dtype=bool)
    for i in range(n):
        if rr[i] < lo or rr[i] > hi:
            flags[i] = True
            continue
        idx = [j for j in range(i - half_window, i + half_window + 1) if 0 <= j < n and j != i]
        if len(idx) >= 2:
            ref = np.median(rr[idx])
            flags[i] = abs(rr[i] - ref) > threshold * ref
    if action == "exclude":
        return rr[~flags], flags
    out = rr.copy()
    good_all = rr[~flags]
    for i in np.flatnonzero(flags):
        idx = [
            j
            for j in range(i - half_window, i + half_window + 1)
            if 0 <= j < n and j != i and not flags[j]
        ]
        if idx:
            out[i] = np.median(rr[idx])
        elif len(good_all):
            out[i] = np.median(good_all)
        else:
            out[i] = np.clip(rr[i], lo, hi)
    return out, flags


def hrv_time(peaks, fs, correct=False):
    rr = rr_intervals(peaks, fs)
    if correct:
        rr = clean_rr(rr)[0]
    d = np.diff(rr)
    mean = rr.mean()
    return {
        "MeanNN": mean,
        "SDNN": rr.std(ddof=1) if len(rr) > 1 else np.nan,
        "RMSSD": np.sqrt(np.mean(d**2)) if len(d) else np.nan,
        "pNN50": 100.0 * np.sum(np.abs(d) > 50) / len(rr),
        "HR": 60000.0 / mean,
    }


def hrv_series(peaks, fs, start, stop, length, correct=True):
    p = np.asarray(peaks, dtype=np.int64)
    inside = p[(p >= start) & (p < stop)]
    out = np.zeros(length, dtype=np.float32)
    if len(inside) < 2:
        return out
    rr = rr_intervals(inside, fs)
    if correct:
        rr = clean_rr(rr)[0]
    rr = rr[-length:] / 1000.0
    out[: len(rr)] = rr
    return out
