"""RR intervals, RR artefact correction, time-domain HRV and the zero-embedded HRV series.

Peaks are R-peak sample indices (int, strictly ascending), as returned by
:func:`edge_emotion.kernels.detect_rpeaks`. RR intervals are in milliseconds, except in
the model's HRV series, which is in seconds (as in Woo et al., NeurIPS 2023 workshop).

Artefact/ectopic handling (:func:`clean_rr`, method ``"local_median"``) is the
threshold-based correction of Kubios HRV (Tarvainen et al., "Kubios HRV – Heart rate
variability analysis software", Comput. Methods Programs Biomed. 113:210–220, 2014):
an interval is an artefact when it differs from the median of its neighbours by more than
a threshold fraction of that median (default 20 %, the classic "20 % rule" of
Kamath & Fallen, 1995), or lies outside a physiological range (default 240–2000 ms,
i.e. 30–250 bpm). Flagged intervals are replaced by the median of the unflagged
neighbours (``action="correct"``, keeps one value per beat) or removed
(``action="exclude"``). Every change is counted.

Time-domain metrics follow ``neurokit2.hrv_time`` exactly (same formulas, same peaks):
MeanNN, SDNN (ddof=1), RMSSD, pNN50 (NN50 divided by the number of intervals, as
NeuroKit2 does) and HR = 60000 / MeanNN.

Example:
    >>> import numpy as np
    >>> from edge_emotion.kernels.hrv import hrv_time, hrv_series
    >>> peaks = np.array([100, 390, 700, 1000, 1290])
    >>> round(hrv_time(peaks, fs=360.0)["HR"], 1)
    72.6
    >>> hrv_series(peaks, 360.0, start=0, stop=1100, length=4)
    array([0.8055556, 0.8611111, 0.8333333, 0.       ], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import as_peaks, check_fs, check_positive_int

RR_METHODS = ("local_median", "none")
RR_ACTIONS = ("correct", "exclude")
# clean_rr defaults, also used by hrv_series (and so by the model's features).
DEFAULT_THRESHOLD = 0.2
DEFAULT_HALF_WINDOW = 3
DEFAULT_RR_RANGE_MS = (240.0, 2000.0)


@dataclass(frozen=True)
class CleanedRR:
    """Result of :func:`clean_rr`.

    Attributes:
        rr_ms: the cleaned intervals in ms (same length as the input with
            ``action="correct"``; artefacts removed with ``action="exclude"``).
        artefacts: bool mask over the *input* intervals, True where one was flagged.
        n_artefacts: number of flagged intervals (= corrected or removed).
    """

    rr_ms: np.ndarray
    artefacts: np.ndarray
    n_artefacts: int


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


_INT64_MAX = int(np.iinfo(np.int64).max)


def _check_cleaning(method: str, threshold: float, half_window: int, rr_range_ms) -> tuple:
    if method not in RR_METHODS:
        raise ValueError(f"method must be one of {RR_METHODS}, got {method!r}")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a fraction such as 0.2, got {threshold!r}") from None
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a fraction in (0, 1), got {threshold!r}")
    if isinstance(half_window, bool) or not isinstance(half_window, (int, np.integer)):
        raise ValueError(f"half_window must be a positive integer, got {half_window!r}")
    if not 1 <= int(half_window) <= 50:
        raise ValueError(f"half_window must be between 1 and 50 intervals, got {half_window}")
    try:
        lo, hi = (float(v) for v in rr_range_ms)
    except (TypeError, ValueError):
        raise ValueError(f"rr_range_ms must be (min_ms, max_ms), got {rr_range_ms!r}") from None
    if not 0.0 <= lo < hi:
        raise ValueError(f"rr_range_ms must satisfy 0 <= min < max, got {rr_range_ms!r}")
    return threshold, int(half_window), lo, hi


# --------------------------------------------------------------------------------------
# Numba kernels (inputs already validated)
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _rr_ms_kernel(peaks, fs):
    n = peaks.shape[0]
    m = n - 1 if n > 1 else 0
    out = np.empty(m, dtype=np.float64)
    # Divide then scale, in NeuroKit2's order, so intervals of exactly 50 ms compare the
    # same way in pNN50.
    for i in range(m):
        out[i] = (peaks[i + 1] - peaks[i]) / fs * 1000.0
    return out


@njit(cache=True)
def _median_small(buf, k):
    # Insertion sort of the first k values: k <= 2 * half_window, a handful of numbers.
    for i in range(1, k):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v
    if k % 2 == 1:
        return buf[k // 2]
    # Halved first: the same value as 0.5 * (a + b) wherever that does not overflow.
    return 0.5 * buf[k // 2 - 1] + 0.5 * buf[k // 2]


@njit(cache=True)
def _flag_local_median(rr, threshold, half_window, lo, hi):
    n = rr.shape[0]
    flags = np.zeros(n, dtype=np.bool_)
    buf = np.empty(2 * half_window, dtype=np.float64)
    for i in range(n):
        x = rr[i]
        if x < lo or x > hi:
            flags[i] = True
            continue
        k = 0
        for j in range(max(0, i - half_window), min(n, i + half_window + 1)):
            if j != i:
                buf[k] = rr[j]
                k += 1
        # One neighbour cannot say which of the two is wrong.
        if k >= 2:
            ref = _median_small(buf, k)
            if abs(x - ref) > threshold * ref:
                flags[i] = True
    return flags


@njit(cache=True)
def _correct_flagged(rr, flags, half_window, lo, hi):
    n = rr.shape[0]
    out = rr.copy()
    n_good = 0
    for i in range(n):
        if not flags[i]:
            n_good += 1
    if n_good == n:
        return out
    global_ref = -1.0  # median of all unflagged intervals, computed only if needed
    buf = np.empty(2 * half_window, dtype=np.float64)
    for i in range(n):
        if not flags[i]:
            continue
        k = 0
        for j in range(max(0, i - half_window), min(n, i + half_window + 1)):
            if j != i and not flags[j]:
                buf[k] = rr[j]
                k += 1
        if k > 0:
            out[i] = _median_small(buf, k)
        elif n_good > 0:
            if global_ref < 0.0:
                good = np.empty(n_good, dtype=np.float64)
                g = 0
                for j in range(n):
                    if not flags[j]:
                        good[g] = rr[j]
                        g += 1
                # Rare (no unflagged neighbour): an O(n^2) sort is fine and cheap to compile.
                global_ref = _median_small(good, n_good)
            out[i] = global_ref
        else:
            # Nothing trustworthy anywhere: the nearest physiological value.
            out[i] = min(max(rr[i], lo), hi)
    return out


@njit(cache=True)
def _clean_kernel(rr, method_id, threshold, half_window, lo, hi, exclude):
    if method_id == 0:
        flags = _flag_local_median(rr, threshold, half_window, lo, hi)
    else:
        flags = np.zeros(rr.shape[0], dtype=np.bool_)
    if exclude:
        n_keep = 0
        for i in range(rr.shape[0]):
            if not flags[i]:
                n_keep += 1
        out = np.empty(n_keep, dtype=np.float64)
        k = 0
        for i in range(rr.shape[0]):
            if not flags[i]:
                out[k] = rr[i]
                k += 1
        return out, flags
    return _correct_flagged(rr, flags, half_window, lo, hi), flags


@njit(cache=True)
def _time_kernel(rr):
    # MeanNN, SDNN (ddof=1), RMSSD, pNN50 with NeuroKit2's denominator (len(rr)).
    n = rr.shape[0]
    mean = 0.0
    for i in range(n):
        mean += rr[i]
    mean /= n
    ss = 0.0
    for i in range(n):
        d = rr[i] - mean
        ss += d * d
    sdnn = np.sqrt(ss / (n - 1)) if n > 1 else np.nan
    sq = 0.0
    nn50 = 0
    for i in range(n - 1):
        d = rr[i + 1] - rr[i]
        sq += d * d
        if abs(d) > 50.0:
            nn50 += 1
    rmssd = np.sqrt(sq / (n - 1)) if n > 1 else np.nan
    pnn50 = 100.0 * nn50 / n
    return mean, sdnn, rmssd, pnn50


@njit(cache=True)
def _first_at_or_after(sorted_idx, value):
    # np.searchsorted(side="left"), written out: it compiles in a fraction of the time.
    lo, hi = 0, sorted_idx.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_idx[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _window_series_kernel(
    peaks, start, stop, fs, length, method_id, threshold, half_window, lo, hi
):
    # The beats start <= p < stop; returns (series in s, n_beats, n_artefacts).
    out = np.zeros(length, dtype=np.float32)
    lo_i = _first_at_or_after(peaks, start)
    hi_i = _first_at_or_after(peaks, stop)
    n_beats = hi_i - lo_i
    if n_beats < 2:
        return out, n_beats, 0
    rr = _rr_ms_kernel(peaks[lo_i:hi_i], fs)
    cleaned, flags = _clean_kernel(rr, method_id, threshold, half_window, lo, hi, False)
    n_art = 0
    for i in range(flags.shape[0]):
        if flags[i]:
            n_art += 1
    m = cleaned.shape[0]
    first = m - length if m > length else 0
    for i in range(first, m):
        out[i - first] = cleaned[i] * 1e-3
    return out, n_beats, n_art


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def rr_intervals(peaks, fs: float) -> np.ndarray:
    """RR intervals in ms between consecutive R-peaks (``len(peaks) - 1`` values, float64).

    Args:
        peaks: R-peak sample indices, strictly ascending, non-negative.
        fs: sampling rate in Hz of the signal the peaks index.
    """
    fs = check_fs(fs)
    return _rr_ms_kernel(as_peaks(peaks), fs)


def clean_rr(
    rr_ms,
    method: str = "local_median",
    threshold: float = DEFAULT_THRESHOLD,
    half_window: int = DEFAULT_HALF_WINDOW,
    rr_range_ms: tuple[float, float] = DEFAULT_RR_RANGE_MS,
    action: str = "correct",
) -> CleanedRR:
    """Flag and correct (or exclude) artefact/ectopic RR intervals.

    Method ``"local_median"`` (Kubios threshold-based correction, Tarvainen et al. 2014;
    20 % rule of Kamath & Fallen 1995): interval ``i`` is an artefact when it lies outside
    ``rr_range_ms`` or when ``|rr[i] - m| > threshold * m``, ``m`` being the median of the
    up to ``2 * half_window`` neighbours ``rr[i-half_window .. i+half_window]`` (itself
    excluded; the relative test needs at least two neighbours; three on each side
    tolerate two adjacent artefacts, e.g. a false beat splitting one interval).
    ``"none"`` flags nothing.

    Args:
        rr_ms: RR intervals in ms (1-D, finite, positive).
        method: ``"local_median"`` (default) or ``"none"``.
        threshold: relative deviation from the local median that marks an artefact.
        half_window: neighbours on each side used for the local median.
        rr_range_ms: physiological range (min, max) in ms; outside is an artefact.
        action: ``"correct"`` replaces each artefact by the median of its unflagged
            neighbours (else of all unflagged intervals; else the value clipped to the
            range); ``"exclude"`` drops them.

    Returns:
        :class:`CleanedRR` with the cleaned intervals, the artefact mask and their count.
    """
    threshold, half_window, lo, hi = _check_cleaning(method, threshold, half_window, rr_range_ms)
    if action not in RR_ACTIONS:
        raise ValueError(f"action must be one of {RR_ACTIONS}, got {action!r}")
    rr = np.asarray(rr_ms)
    if rr.ndim != 1:
        raise ValueError(f"rr_ms must be a 1-D array of intervals in ms, got shape {rr.shape}")
    if rr.size and (rr.dtype == np.bool_ or not np.issubdtype(rr.dtype, np.number)):
        raise ValueError(f"rr_ms must be numeric, got dtype {rr.dtype}")
    rr = np.ascontiguousarray(rr, dtype=np.float64)
    if not np.isfinite(rr).all() or (rr <= 0).any():
        raise ValueError("rr_ms must hold finite, positive intervals in ms")
    out, flags = _clean_kernel(
        rr, RR_METHODS.index(method), threshold, half_window, lo, hi, action == "exclude"
    )
    return CleanedRR(rr_ms=out, artefacts=flags, n_artefacts=int(flags.sum()))


def hrv_time(peaks, fs: float, correction: str = "none") -> dict[str, float]:
    """Time-domain HRV of a peak train, as ``neurokit2.hrv_time`` computes it.

    Args:
        peaks: R-peak sample indices (at least 2), strictly ascending.
        fs: sampling rate in Hz.
        correction: ``"none"`` (default: the raw intervals, as NeuroKit2 does) or
            ``"local_median"`` (:func:`clean_rr` with its defaults first).

    Returns:
        ``{"MeanNN": ms, "SDNN": ms, "RMSSD": ms, "pNN50": %, "HR": bpm}``. With only two
        peaks SDNN and RMSSD are NaN (as in NeuroKit2).
    """
    fs = check_fs(fs)
    if correction not in RR_METHODS:
        raise ValueError(f"correction must be one of {RR_METHODS}, got {correction!r}")
    p = as_peaks(peaks)
    if p.size < 2:
        raise ValueError(f"peaks must hold at least 2 R-peaks for HRV, got {p.size}")
    rr = _rr_ms_kernel(p, fs)
    if correction != "none":
        rr = clean_rr(rr, method=correction).rr_ms
    mean, sdnn, rmssd, pnn50 = _time_kernel(rr)
    return {
        "MeanNN": float(mean),
        "SDNN": float(sdnn),
        "RMSSD": float(rmssd),
        "pNN50": float(pnn50),
        "HR": float(60_000.0 / mean),
    }


def _check_window(start, stop) -> tuple[int, int]:
    try:
        a, b = int(start), int(stop)
    except (TypeError, ValueError):
        raise ValueError(
            f"start and stop must be sample indices, got {start!r}, {stop!r}"
        ) from None
    if a != start or b != stop:
        raise ValueError(f"start and stop must be whole sample indices, got {start!r}, {stop!r}")
    if not 0 <= a <= b <= _INT64_MAX:
        raise ValueError(
            f"need 0 <= start <= stop <= 2**63 - 1 (sample indices), got start={start}, stop={stop}"
        )
    return a, b


def hrv_window(
    peaks,
    fs: float,
    start: int,
    stop: int,
    length: int,
    correction: str = "local_median",
) -> tuple[np.ndarray, int, int]:
    """The model's ECG input for the beats in ``[start, stop)``, with what a quality gate
    needs: ``(series, n_beats, n_artefacts)``.

    The RR intervals (s) between consecutive peaks with ``start <= peak < stop`` are
    cleaned (:func:`clean_rr`, ``correction`` method, action ``"correct"``), then written
    to a float32 array of ``length``: zero-padded at the end when fewer, the oldest
    dropped when more (zero-embedding as in Woo et al., NeurIPS 2023 workshop). Fewer
    than two beats give all zeros. ``n_beats`` counts the beats inside the window,
    ``n_artefacts`` the intervals corrected. The feature path calls this every hop: a
    peak train as the detector returns it (int64, ascending) is checked in one
    compiled pass.
    """
    fs = check_fs(fs)
    a, b = _check_window(start, stop)
    length = check_positive_int(length, "length")
    if correction not in RR_METHODS:
        raise ValueError(f"correction must be one of {RR_METHODS}, got {correction!r}")
    series, n_beats, n_art = _window_series_kernel(
        as_peaks(peaks),
        a,
        b,
        fs,
        length,
        RR_METHODS.index(correction),
        DEFAULT_THRESHOLD,
        DEFAULT_HALF_WINDOW,
        *DEFAULT_RR_RANGE_MS,
    )
    return series, int(n_beats), int(n_art)


def hrv_series(
    peaks,
    fs: float,
    start: int,
    stop: int,
    length: int,
    correction: str = "local_median",
) -> np.ndarray:
    """The zero-embedded RR series (s) of the beats in ``[start, stop)``: the first item
    of :func:`hrv_window`."""
    return hrv_window(peaks, fs, start, stop, length, correction)[0]
