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


def band_de_windows(eeg, fs, ends, bands, window_s=10.0, subwindow_s=1.0, order=4):
    """``(windows, bands, channels, K)``: each channel minus its first sample, sosfilt
    from rest over the whole recording, then np.var per sub-window of each window."""
    sub = round(subwindow_s * fs)
    k = round(window_s / subwindow_s)
    centred = eeg - eeg[:, :1]
    filtered = [scipy.signal.sosfilt(sos, centred, axis=-1) for sos in design(bands, fs, order)]
    out = np.empty((len(ends), len(filtered), eeg.shape[0], k))
    for w, end in enumerate(ends):
        for b, y in enumerate(filtered):
            blocks = y[:, end - k * sub : end].reshape(eeg.shape[0], k, sub)
            out[w, b] = de_of(np.var(blocks, axis=-1))
    return out


def sosfiltfilt_longdouble(sos, x):
    """``scipy.signal.sosfiltfilt(sos, x, axis=-1)`` computed in long double (80-bit on
    x86) from the same float64 coefficients and ``sosfilt_zi``: the rounding-free answer
    against which both scipy's float64 result and the kernels' are measured."""
    ld = np.longdouble
    zi = scipy.signal.sosfilt_zi(sos).astype(ld)[:, np.newaxis, :]  # (sections, 1, 2)
    n_sec = sos.shape[0]
    padlen = 3 * (2 * n_sec + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    x = x.astype(ld)
    ext = np.concatenate(
        [
            2 * x[:, :1] - x[:, padlen:0:-1],
            x,
            2 * x[:, -1:] - x[:, -2 : -padlen - 2 : -1],
        ],
        axis=1,
    )
    sos_ld = sos.astype(ld)
    y, _ = scipy.signal.sosfilt(sos_ld, ext, axis=-1, zi=zi * ext[np.newaxis, :, :1])
    y = y[:, ::-1]
    y, _ = scipy.signal.sosfilt(sos_ld, y, axis=-1, zi=zi * y[np.newaxis, :, :1])
    return y[:, ::-1][:, padlen:-padlen]
