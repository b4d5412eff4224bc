"""Band differential entropy (DE) of EEG: whole recordings, sub-window maps, many windows.

The streaming form, :class:`~edge_emotion.kernels.de_stream.StreamingBandDE`, lives in
:mod:`edge_emotion.kernels.de_stream` and shares this module's constants and input checks.

For a band-passed signal treated as Gaussian with variance σ², the differential entropy
is ``DE = 0.5 * ln(2 * pi * e * σ²)`` (Shi, Jiao and Lu, "Differential entropy feature
for EEG-based vigilance estimation", IEEE EMBC 2013; Duan, Zhu and Lu, "Differential
entropy feature for EEG-based emotion classification", IEEE NER 2013). σ² is the
population variance (``np.var``, mean removed) of the band-passed samples. Units: EEG in
µV gives σ² in µV² and DE in nats relative to 1 µV.

Decisions (tested in ``tests/test_de.py``):

- Input is ``(channels, samples)``; 1-D input is rejected (pass ``x[np.newaxis]`` for
  one channel) so a ``(samples,)`` or transposed array never passes silently.
- A flat (constant) channel has σ² = 0 and DE = -inf, which would poison a model. The
  variance is floored at :data:`VAR_FLOOR` (1e-20, input units squared, far below any
  real EEG in µV or in V), so a flat channel gives the finite :data:`DE_FLOOR`
  (≈ -21.6). Flagging flat channels is the quality gate's job, not the kernel's.
- :func:`band_de` and ``band_de_map(zero_phase=True)`` filter zero-phase exactly like
  ``scipy.signal.sosfiltfilt`` (see :mod:`edge_emotion.kernels.filters`), so the input
  must be longer than the filters' padding (27 samples for order-4 band-passes).
- ``band_de_map(zero_phase=False)``, :func:`band_de_windows` and ``StreamingBandDE``
  filter causally from the first sample, each channel's filters starting in the steady
  state for that channel's first sample: the first sample is subtracted from the whole
  channel (the streaming form carries it in its state) and the filters start at rest.
  For a band-pass (zero DC gain) the two are the same filter output, and the
  subtraction is exact, so an electrode offset (OpenBCI: ~6e4 µV) causes no start-up
  transient (started at rest on the raw signal, a 6e4 µV step takes ~6 s to fall below
  1 µV² in the theta band). Only the signal's own changes after the first sample ring the
  filters in. The zero-phase path centres the same way.
- Every form accepts samples up to :data:`EEG_MAX_ABS` (1e100, input units) in
  magnitude and raises ``ValueError`` naming that bound above it. The kernels add
  squares of band-passed samples, which overflow float64 from about 1e150 (10 s
  at 1e153 gave inf, at 1e300 NaN, without a word). DE is a log-variance in absolute
  units, not amplitude-invariant (see the floor above), so scaling the input would
  only return a number no model has seen: such a value is a units or data error.
  1e100 leaves real EEG (~1e2 µV, ~1e5 µV of electrode offset, raw ADC counts, even a
  µV/pV mix-up) dozens of orders of magnitude inside, and squares of 1e100 add up
  without overflow for any length. The check rides in the pass that already looks
  for NaN/inf.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import as_signal, check_fs, whole_samples
from edge_emotion.kernels.filters import (
    DEFAULT_ORDER,
    _band_edges,
    _bank_zi,
    _causal_state,
    _check_band,
    _filtfilt_rows,
    _readonly,
    _sosfilt_rows,
    bandpass_bank_sos,
    filtfilt_padlen,
    sosfilt_bank,
)

DEFAULT_BANDS: tuple[tuple[str, float, float], ...] = (
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 14.0),
    ("beta", 14.0, 31.0),
    ("gamma", 31.0, 45.0),
)

VAR_FLOOR = 1e-20
EEG_MAX_ABS = 1e100  # largest |sample| accepted (input units); see the module docstring
DE_FLOOR = 0.5 * math.log(2.0 * math.pi * math.e * VAR_FLOOR)
LOG_2PIE = math.log(2.0 * math.pi * math.e)  # DE = 0.5 * (LOG_2PIE + ln var)

__all__ = [
    "DEFAULT_BANDS",
    "DE_FLOOR",
    "EEG_MAX_ABS",
    "VAR_FLOOR",
    "band_de",
    "band_de_map",
    "band_de_windows",
    "de_from_variance",
]


def de_from_variance(var) -> np.ndarray:
    """``0.5 * ln(2 pi e * max(var, VAR_FLOOR))``, elementwise."""
    return 0.5 * (LOG_2PIE + np.log(np.maximum(np.asarray(var, dtype=np.float64), VAR_FLOOR)))


# ----------------------------------------------------------------------------- validation
# check_bands, band_filters, window_layout and eeg_input_error are shared with the
# streaming form (edge_emotion.kernels.de_stream), so both check input the same way.


def check_bands(bands, fs: float) -> tuple[tuple[str, float, float], ...]:
    """``bands`` as checked ``(name, low_hz, high_hz)`` items (``ValueError`` naming the
    band otherwise); ``(low, high)`` items are named ``band<i>``."""
    edges = _band_edges(bands)
    out = []
    for i, ((lo, hi), item) in enumerate(zip(edges, bands, strict=True)):
        lo, hi = _check_band(lo, hi, fs, name=f"bands[{i}]")
        name = str(item[0]) if len(item) == 3 else f"band{i}"
        out.append((name, lo, hi))
    return tuple(out)


def band_filters(bands, fs: float):
    """Checked ``(sos_bank, zi, padlen)`` for ``bands`` at ``fs``; arrays are read-only.

    Cached on the band tuple: designing and checking costs ~30 µs, a tenth of a band_de call.
    """
    if isinstance(bands, (str, bytes)):
        return _band_filters(bands, fs)  # raises the usual "bands must be ..." error
    try:
        key = tuple(tuple(item) for item in bands)
        hash(key)
    except TypeError:
        return _band_filters(bands, fs)
    return _band_filters_cached(key, fs)


def _band_filters(bands, fs: float):
    checked = check_bands(bands, fs)
    sos = _readonly(bandpass_bank_sos(checked, fs, DEFAULT_ORDER))
    padlen = max(filtfilt_padlen(s) for s in sos)
    return sos, _bank_zi(sos), padlen


_band_filters_cached = functools.lru_cache(maxsize=64)(_band_filters)


def window_layout(window_s, subwindow_s, fs: float) -> tuple[int, int]:
    """``(subwindow samples, subwindows per window)``; ``ValueError`` unless both are whole
    numbers of samples and ``window_s`` is a whole multiple of ``subwindow_s``."""
    sub_len = whole_samples(subwindow_s, fs, "subwindow_s")
    window_len = whole_samples(window_s, fs, "window_s")
    if window_len % sub_len:
        raise ValueError(
            "window_s must be a whole multiple of subwindow_s, "
            f"got {window_s!r} and {subwindow_s!r}"
        )
    return sub_len, window_len // sub_len


def eeg_input_error(sig: np.ndarray, name: str = "eeg") -> ValueError:
    """The error for an input that holds NaN/inf or samples beyond :data:`EEG_MAX_ABS`."""
    n_bad = int(sig.size - np.count_nonzero(np.isfinite(sig)))
    if n_bad:
        return ValueError(
            f"{name} contains {n_bad} NaN or infinite values; clean or interpolate them first"
        )
    return ValueError(
        f"{name} must hold samples of magnitude at most {EEG_MAX_ABS:g} (its units, µV), "
        f"got {float(np.max(np.abs(sig))):.3g}; check the units"
    )


def _eeg(eeg, min_samples: int, check_finite: bool = True) -> np.ndarray:
    arr = np.asarray(eeg) if not isinstance(eeg, np.ndarray) else eeg
    if arr.ndim == 1:
        raise ValueError(
            f"eeg must be 2-D (channels, samples), got 1-D shape {arr.shape}; "
            "for one channel pass eeg[np.newaxis, :]"
        )
    # the zero-phase kernels count non-finite samples themselves (check_finite=False);
    # below one sample as_signal's own message (band_de_windows takes 0 with no windows)
    sig = as_signal(
        arr, "eeg", ndim=2, min_samples=min(min_samples, 1), allow_nonfinite=not check_finite
    )
    if sig.shape[1] < min_samples:
        raise ValueError(
            f"eeg must have at least {min_samples} samples per channel for these filters "
            f"and sub-windows, got {sig.shape[1]}"
        )
    return sig


# ----------------------------------------------------------------------------- kernels


@njit(cache=True)
def _subwindow_de(rows, n_channels, sub_len, n_sub, log_2pie, var_floor):
    """DE per band, channel and sub-window of ``rows`` ``(n, bands, lanes)``.

    Sub-windows are ``n_sub`` consecutive blocks of ``sub_len`` samples, the last one
    ending at the last row. Two-pass variance (mean, then mean squared deviation) as
    ``np.var``. Returns ``(bands, channels, n_sub)``.
    """
    n, n_bands, lanes = rows.shape
    flat = rows.reshape(n, n_bands * lanes)  # one long vectorised loop per sample
    width = n_bands * lanes
    start = n - n_sub * sub_len
    out = np.empty((n_bands, n_channels, n_sub))
    mean = np.empty(width)
    acc = np.empty(width)
    for j in range(n_sub):
        t0 = start + j * sub_len
        mean[:] = 0.0
        for t in range(t0, t0 + sub_len):
            r = flat[t]
            for k in range(width):
                mean[k] += r[k]
        for k in range(width):
            mean[k] /= sub_len
        acc[:] = 0.0
        for t in range(t0, t0 + sub_len):
            r = flat[t]
            for k in range(width):
                d = r[k] - mean[k]
                acc[k] += d * d
        for b in range(n_bands):
            for c in range(n_channels):
                var = max(acc[b * lanes + c] / sub_len, var_floor)
                out[b, c, j] = 0.5 * (log_2pie + math.log(var))
    return out


@njit(cache=True)
def _whole_de(rows, n_channels, log_2pie, var_floor):
    """``(channels, bands)`` DE of all of ``rows`` ``(n, bands, lanes)``.

    One pass of sums and sums of squares, ``var = E[y^2] - E[y]^2``: band-passed output
    has a mean far below its standard deviation, so the cancellation costs ~1e-16
    relative (not the 1e-6 budget) and a second pass over memory is saved.
    """
    n, n_bands, lanes = rows.shape
    flat = rows.reshape(n, n_bands * lanes)
    width = n_bands * lanes
    s1 = np.zeros(width)
    s2 = np.zeros(width)
    for t in range(n):
        r = flat[t]
        for k in range(width):
            v = r[k]
            s1[k] += v
            s2[k] += v * v
    out = np.empty((n_channels, n_bands))
    for b in range(n_bands):
        for c in range(n_channels):
            mean = s1[b * lanes + c] / n
            var = max(s2[b * lanes + c] / n - mean * mean, var_floor)
            out[c, b] = 0.5 * (log_2pie + math.log(var))
    return out


@njit(cache=True)
def _windows_de(filtered, ends, n_sub, sub_len, log_2pie, var_floor):
    """``(windows, bands, channels, n_sub)`` DE of windows of ``filtered``
    ``(bands, channels, n)``, window ``w`` ending before sample ``ends[w]``.

    Prefix sums per (band, channel) make every window O(sub-windows), not O(samples);
    the mean is removed per sub-window, so the variance is ``np.var``'s (ddof=0). The
    sums stay exact enough: squares of samples up to EEG_MAX_ABS cannot overflow, and
    over a trial their rounding is ~1e-16 of the total, far below a sub-window's share.
    """
    n_b, n_c, n = filtered.shape
    n_w = ends.shape[0]
    out = np.empty((n_w, n_b, n_c, n_sub))
    s1 = np.empty(n + 1, dtype=np.float64)
    s2 = np.empty(n + 1, dtype=np.float64)
    for b in range(n_b):
        for c in range(n_c):
            s1[0] = 0.0
            s2[0] = 0.0
            for k in range(n):
                x = filtered[b, c, k]
                s1[k + 1] = s1[k] + x
                s2[k + 1] = s2[k] + x * x
            for w in range(n_w):
                first = ends[w] - n_sub * sub_len
                for s in range(n_sub):
                    a = first + s * sub_len
                    z = a + sub_len
                    m = (s1[z] - s1[a]) / sub_len
                    var = max((s2[z] - s2[a]) / sub_len - m * m, var_floor)
                    out[w, b, c, s] = 0.5 * (log_2pie + np.log(var))
    return out


# ----------------------------------------------------------------------------- public


def band_de(eeg, fs: float, bands=DEFAULT_BANDS) -> np.ndarray:
    """Differential entropy of each zero-phase band-passed channel: ``(channels, bands)``.

    ``eeg`` is ``(channels, samples)`` (µV), ``fs`` in Hz, ``bands`` ``(name, low_hz,
    high_hz)`` items with ``0 < low < high < fs/2``. Each band is an order-4 Butterworth
    band-pass run forward-backward exactly as ``scipy.signal.sosfiltfilt`` (after
    subtracting each channel's first sample, which changes nothing mathematically for a
    band-pass but keeps electrode offsets from costing precision); DE is
    ``0.5 * ln(2 pi e * var)`` with the variance floored at :data:`VAR_FLOOR`.

    >>> rng = np.random.default_rng(0)
    >>> band_de(rng.standard_normal((2, 1280)), 128.0).shape
    (2, 4)
    """
    fs = check_fs(fs)
    sos, zi, padlen = band_filters(bands, fs)
    sig = _eeg(eeg, padlen + 1, check_finite=False)
    rows, n_bad = _filtfilt_rows(sig, padlen, sos, zi, True, EEG_MAX_ABS)
    if n_bad:
        raise eeg_input_error(sig)
    return _whole_de(rows, sig.shape[0], LOG_2PIE, VAR_FLOOR)


def band_de_map(
    eeg, fs: float, bands=DEFAULT_BANDS, subwindow_s: float = 1.0, zero_phase: bool = True
) -> np.ndarray:
    """DE per band, channel and sub-window: ``(bands, channels, n_subwindows)``.

    The whole ``eeg`` ``(channels, samples)`` is filtered (zero-phase as :func:`band_de`,
    or with ``zero_phase=False`` causally from its first sample, each channel's filters
    starting in the steady state for its first sample, i.e. with that sample subtracted
    from the channel and the state at rest, so electrode offsets cause no start-up
    transient), then cut
    into ``samples // (subwindow_s * fs)`` consecutive sub-windows, the last ending at
    the last sample; earlier samples only warm the filters up. ``subwindow_s * fs`` must
    be a whole number of samples.
    """
    fs = check_fs(fs)
    sos, zi, padlen = band_filters(bands, fs)
    sub_len = whole_samples(subwindow_s, fs, "subwindow_s")
    if not isinstance(zero_phase, (bool, np.bool_)):
        raise ValueError(f"zero_phase must be True or False, got {zero_phase!r}")
    if zero_phase:
        sig = _eeg(eeg, max(sub_len, padlen + 1), check_finite=False)
        rows, n_bad = _filtfilt_rows(sig, padlen, sos, zi, True, EEG_MAX_ABS)
        if n_bad:
            raise eeg_input_error(sig)
    else:
        sig = _eeg(eeg, sub_len, check_finite=False)
        if not np.max(np.abs(sig)) <= EEG_MAX_ABS:  # NaN fails too
            raise eeg_input_error(sig)
        z = _causal_state(sos.shape[0], sos.shape[1], sig.shape[0])
        rows = _sosfilt_rows(sig - sig[:, :1], sos, z)
    n_sub = sig.shape[1] // sub_len
    return _subwindow_de(rows, sig.shape[0], sub_len, n_sub, LOG_2PIE, VAR_FLOOR)


def band_de_windows(
    eeg,
    fs: float,
    window_ends,
    bands=DEFAULT_BANDS,
    window_s: float = 10.0,
    subwindow_s: float = 1.0,
) -> np.ndarray:
    """DE maps of many windows of one recording: ``(windows, bands, channels, K)``.

    ``eeg`` ``(channels, samples)`` (µV) is filtered causally once, from its first sample
    (each channel's filters in the steady state for that sample, as
    ``band_de_map(zero_phase=False)``); window ``w`` holds the ``window_s`` before sample
    ``window_ends[w]`` (int, ``window_s * fs <= end <= samples``), cut into
    ``K = window_s / subwindow_s`` sub-windows. Window ``w`` equals (to float rounding)
    ``band_de_map(eeg[:, :end], fs, bands, subwindow_s, zero_phase=False)[..., -K:]`` and
    what :class:`~edge_emotion.kernels.de_stream.StreamingBandDE` reports once ``end``
    samples have been fed; the training feature path uses it for a whole trial.
    """
    fs = check_fs(fs)
    sos, _, _ = band_filters(bands, fs)
    sub_len, n_sub = window_layout(window_s, subwindow_s, fs)
    sig = _eeg(eeg, 0)
    ends = np.asarray(window_ends)
    if ends.ndim != 1 or (ends.size and not np.issubdtype(ends.dtype, np.integer)):
        raise ValueError(
            f"window_ends must be a 1-D array of sample counts (integers), got "
            f"shape {ends.shape}, dtype {ends.dtype}"
        )
    ends = ends.astype(np.int64)
    window_len = n_sub * sub_len
    if ends.size and (ends.min() < window_len or ends.max() > sig.shape[1]):
        raise ValueError(
            f"window_ends must lie in [{window_len}, {sig.shape[1]}] (a whole window of "
            f"window_s * fs samples inside eeg), got {ends.min()}..{ends.max()}"
        )
    if sig.size and not np.max(np.abs(sig)) <= EEG_MAX_ABS:
        raise eeg_input_error(sig)
    if ends.size == 0:
        return np.zeros((0, sos.shape[0], sig.shape[0], n_sub))
    n = int(ends.max())
    # Filtering starts at rest on the centred signal: the steady state for sample 0.
    filtered = sosfilt_bank(sig[:, :n] - sig[:, :1], sos)
    return _windows_de(filtered, ends, n_sub, sub_len, LOG_2PIE, VAR_FLOOR)
