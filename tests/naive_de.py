"""Plain scipy/numpy twins of the band-pass and differential-entropy kernels.

Slow and obviously right: scipy designs, scipy filters, ``np.var``; the Numba kernels in
``edge_emotion.kernels.filters`` / ``.de`` are checked against these.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

VAR_FLOOR = 1e-20  # the documented floor of edge_emotion.kernels.de, restated on purpose


def design(bands, fs, order=4):
    return [
        scipy.signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
        for _name, lo, hi in bands
    ]


def de_of(var):
    return 0.5 * np.log(2 * np.pi * np.e * np.maximum(var, VAR_FLOOR))


def band_de(eeg, fs, bands, order=4):
    """``(channels, bands)``: sosfiltfilt with scipy defaults, then np.var."""
    out = [
        de_of(np.var(scipy.signal.sosfiltfilt(sos, eeg, axis=-1), axis=-1))
        for sos in design(bands, fs, order)
    ]
    return np.stack(out, axis=1)


def band_de_map(eeg, fs, bands, subwindow_s=1.0, zero_phase=True, order=4):
    """``(bands, channels, n_sub)``: filter the whole signal, then np.var per sub-window."""
    sub = round(subwindow_s * fs)
    n = eeg.shape[1]
    n_sub = n // sub
    maps = []
    for sos in design(bands, fs, order):
        if zero_phase:
            y = scipy.signal.sosfiltfilt(sos, eeg, axis=-1)
        else:
            y = scipy.signal.sosfilt(sos, eeg, axis=-1)
        y = y[:, n - n_sub * sub :].reshape(eeg.shape[0], n_sub, sub)
        maps.append(de_of(np.var(y, axis=-1)))
    return np.stack(maps)
