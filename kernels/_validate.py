"""Input checks shared by the kernel wrappers.

Every public kernel converts and checks its input here, in plain Python, before the
Numba code runs: errors name the argument and say what was expected.
"""

from __future__ import annotations

import numpy as np

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
