"""A scipy twin of the streaming polyphase resampler.

Slow and obviously right: the whole signal at once through ``scipy.signal.upfirdn`` with
the filter ``scipy.signal.resample_poly`` designs (restated here from scipy's source:
Kaiser window, beta 5, 10 zero crossings per side of the slower rate, gain ``up``),
pre-padded as ``resample_poly`` pads it. ``edge_emotion.kernels.resample`` is checked
against this.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal


def ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    frac = Fraction(fs_out / fs_in).limit_denominator(1000)
    return frac.numerator, frac.denominator


def resample_filter(up: int, down: int) -> np.ndarray:
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = scipy.signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    return np.concatenate((np.zeros(down - half_len % down), h))


def resample_causal(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Every output sample the inputs ``x`` (channels, n) determine, in order."""
    up, down = ratio(fs_in, fs_out)
    if up == down == 1:
        return x.copy()
    n_out = ((x.shape[1] - 1) * up) // down + 1 if x.shape[1] else 0
    y = scipy.signal.upfirdn(resample_filter(up, down), x, up, down, axis=1)
    return y[:, :n_out]


def delay_samples(fs_in: float, fs_out: float) -> int:
    """Output samples by which the causal output lags ``resample_poly``'s centred one."""
    up, down = ratio(fs_in, fs_out)
    if up == down == 1:
        return 0
    half_len = 10 * max(up, down)
    return (half_len + down - half_len % down) // down
