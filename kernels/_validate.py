"""Input checks shared by the kernel wrappers.

Every public kernel converts and checks its input here, in plain Python, before the
Numba code runs: errors name the argument and say what was expected.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FS_RANGE_HZ = (50.0, 10_000.0)


def check_fs(
    fs: float, name: str = "fs", lo: float = FS_RANGE_HZ[0], hi: float = FS_RANGE_HZ[1]
) -> float:
    """Return ``fs`` as a float, or raise ``ValueError`` when it is not a rate in [lo, hi] Hz."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sampling rate in Hz, got {fs!r}") from None
    if not np.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g} Hz, got {fs!r}")
    return value


def as_signal(
    x, name: str, ndim: int, min_samples: int = 1, allow_nonfinite: bool = False
) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 array of ``ndim`` dimensions (samples last).

    Raises ``ValueError`` naming ``name`` for a wrong number of dimensions, fewer than
    ``min_samples`` samples, a non-numeric dtype, or NaN/inf values (unless allowed).
    """
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        shape = "(samples,)" if ndim == 1 else "(channels, samples)"
        raise ValueError(f"{name} must be {ndim}-D with shape {shape}, got shape {arr.shape}")
    if arr.shape[-1] < min_samples:
        raise ValueError(f"{name} must have at least {min_samples} samples, got {arr.shape[-1]}")
    if ndim == 2 and arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one channel, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not allow_nonfinite and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite values; clean or interpolate them first"
        )
    return arr


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer >= 1
    (``bool`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def whole_samples(seconds, fs: float, name: str) -> int:
    """``seconds * fs`` as a whole number of at least 2 samples, or ``ValueError``."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a duration in seconds, got {seconds!r}") from None
    n = value * fs
    if not np.isfinite(n) or value <= 0 or abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 2:
        raise ValueError(
            f"{name} * fs must be a whole number of at least 2 samples, "
            f"got {seconds!r} s at {fs:g} Hz"
        )
    return round(n)


_INT64_MAX = int(np.iinfo(np.int64).max)
# Floats hold every whole number only up to 2**53; above it they skip sample indices.
_FLOAT_PEAK_MAX = 2.0**53


@njit(cache=True)
def _valid_peak_train(peaks):
    """True when every index is >= 0 and larger than the one before (one pass)."""
    prev = np.int64(-1)
    for p in peaks:
        if p <= prev:
            return False
        prev = p
    return True


def as_peaks(peaks, name: str = "peaks") -> np.ndarray:
    """Return ``peaks`` as a contiguous int64 array; ValueError for anything else.

    Accepts integer arrays, or floats holding whole numbers up to 2**53 (beyond that a
    float cannot tell neighbouring samples apart). Every element must be non-negative
    and each one larger than the one before (no duplicates); errors name ``name`` and
    the first offending position. All non-negative int64 values are accepted: their
    differences, from which everything else is computed, cannot overflow.
    """
    if (
        type(peaks) is np.ndarray
        and peaks.dtype == np.int64
        and peaks.ndim == 1
        and _valid_peak_train(peaks)
    ):
        # What a detector returns, checked in one compiled pass (the streaming feature
        # path calls this every hop); anything else, or a bad train, goes the long way
        # for its error message.
        return np.ascontiguousarray(peaks)
    arr = np.asarray(peaks)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of sample indices, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold integer sample indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold integer sample indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        # Checked before the cast: uint64 above 2**63 - 1 would wrap to negative.
        neg = arr < 0
        too_big = arr > _INT64_MAX if arr.dtype == np.uint64 else np.zeros(arr.shape, bool)
    else:
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold whole-number sample indices (no NaN/inf/fractions)")
        neg = arr < 0
        too_big = arr > _FLOAT_PEAK_MAX
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise ValueError(f"{name} must be non-negative sample indices, got {name}[{i}]={arr[i]}")
    if too_big.any():
        i = int(np.flatnonzero(too_big)[0])
        limit = "2**53 (as floats)" if arr.dtype.kind == "f" else "2**63 - 1"
        raise ValueError(
            f"{name} must be sample indices no larger than {limit}, got {name}[{i}]={arr[i]}"
        )
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if out.size > 1:
        d = np.diff(out)  # non-negative operands: cannot overflow
        if (d == 0).any():
            i = int(np.flatnonzero(d == 0)[0])
            raise ValueError(f"{name} has a duplicate index {out[i]} at positions {i}, {i + 1}")
        if (d < 0).any():
            i = int(np.flatnonzero(d < 0)[0])
            raise ValueError(
                f"{name} must be strictly ascending, but {name}[{i}]={out[i]} > "
                f"{name}[{i + 1}]={out[i + 1]}"
            )
    return out
