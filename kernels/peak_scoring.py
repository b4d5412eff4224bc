"""Scoring of R-peak detections against reference beat annotations (plain NumPy).

Detections and references are matched one-to-one within a tolerance (150 ms by
default, as in ANSI/AAMI EC57 beat-by-beat comparison): every pair closer than the
tolerance is a candidate, pairs are taken nearest first, and each reference and each
detection is used at most once. From the matches come sensitivity (Se = TP / (TP + FN)),
positive predictivity (PPV = TP / (TP + FP)), F1, and the timing error (detection minus
reference) of every matched pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_emotion.kernels._validate import check_fs


@dataclass(frozen=True)
class PeakScore:
    """Counts and timing of one comparison; add scores to total them over records."""

    tp: int
    fp: int
    fn: int
    abs_error_sum_ms: float  # sum of |detection - reference| over matched pairs, in ms
    error_sum_ms: float  # signed sum (detection - reference), in ms: > 0 means late

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else float("nan")

    @property
    def mean_abs_error_ms(self) -> float:
        return self.abs_error_sum_ms / self.tp if self.tp else float("nan")

    @property
    def mean_error_ms(self) -> float:
        return self.error_sum_ms / self.tp if self.tp else float("nan")

    def __add__(self, other: PeakScore) -> PeakScore:
        return PeakScore(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.abs_error_sum_ms + other.abs_error_sum_ms,
            self.error_sum_ms + other.error_sum_ms,
        )


def _as_indices(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of sample indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer sample indices, got dtype {arr.dtype}")
    return np.sort(arr.astype(np.int64, copy=False))


def match_peaks(
    detected, reference, fs: float, tolerance_s: float = 0.150
) -> tuple[np.ndarray, np.ndarray]:
    """Match detections to references one-to-one within ``tolerance_s`` seconds.

    Returns ``(det_idx, ref_idx)``: positions into the sorted ``detected`` and
    ``reference`` arrays of the matched pairs, in reference order. Candidate pairs
    (|difference| <= tolerance) are accepted nearest first.
    """
    fs = check_fs(fs)
    det = _as_indices(detected, "detected")
    ref = _as_indices(reference, "reference")
    if not np.isfinite(tolerance_s) or tolerance_s <= 0:
        raise ValueError(f"tolerance_s must be a positive number of seconds, got {tolerance_s!r}")
    tol = tolerance_s * fs
    if det.size == 0 or ref.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # For each reference, the detections inside its tolerance window form a contiguous range.
    lo = np.searchsorted(det, ref - tol, side="left")
    hi = np.searchsorted(det, ref + tol, side="right")
    counts = hi - lo
    ref_of_pair = np.repeat(np.arange(ref.size), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    det_of_pair = starts + np.arange(ref_of_pair.size)
    dist = np.abs(det[det_of_pair] - ref[ref_of_pair])
    order = np.lexsort((det_of_pair, ref_of_pair, dist))
    used_det = np.zeros(det.size, bool)
    used_ref = np.zeros(ref.size, bool)
    pairs_d = []
    pairs_r = []
    for p in order:
        d = det_of_pair[p]
        r = ref_of_pair[p]
        if not used_det[d] and not used_ref[r]:
            used_det[d] = True
            used_ref[r] = True
            pairs_d.append(d)
            pairs_r.append(r)
    det_idx = np.asarray(pairs_d, np.int64)
    ref_idx = np.asarray(pairs_r, np.int64)
    sort = np.argsort(ref_idx, kind="stable")
    return det_idx[sort], ref_idx[sort]


def score_peaks(detected, reference, fs: float, tolerance_s: float = 0.150) -> PeakScore:
    """Score ``detected`` against ``reference`` peaks (sample indices at ``fs`` Hz)."""
    fs = check_fs(fs)
    det = _as_indices(detected, "detected")
    ref = _as_indices(reference, "reference")
    di, ri = match_peaks(det, ref, fs, tolerance_s)
    err_ms = (det[di] - ref[ri]) * (1000.0 / fs)
    tp = int(di.size)
    return PeakScore(
        tp=tp,
        fp=int(det.size - tp),
        fn=int(ref.size - tp),
        abs_error_sum_ms=float(np.abs(err_ms).sum()),
        error_sum_ms=float(err_ms.sum()),
    )
