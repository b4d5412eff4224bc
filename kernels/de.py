"""Band differential entropy (DE) of EEG: batch, sub-window maps, and streaming.

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
- ``band_de_map(zero_phase=False)`` and :class:`StreamingBandDE` filter causally from
  the first sample, each channel's filters starting in the steady state for that
  channel's first sample: the first sample is subtracted from the whole channel (the
  streaming form carries it in its state) and the filters start at rest. For a
  band-pass (zero DC gain) the two are the same filter output, and the subtraction is
  exact, so an electrode offset (OpenBCI: ~6e4 µV) causes no start-up transient
  (started at rest on the raw signal, a 6e4 µV step takes ~6 s to fall below 1 µV² in
  the theta band). Only the signal's own changes after the first sample ring the
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

from edge_emotion.kernels._validate import as_signal, check_fs
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
_LOG_2PIE = math.log(2.0 * math.pi * math.e)
# The streaming update's channel loops are vectorised by LLVM; one AVX-512 register of
# lanes keeps an 8-channel board at one vector (the batch filters pad to 16).
_STREAM_LANES = 8

__all__ = [
    "DEFAULT_BANDS",
    "DE_FLOOR",
    "EEG_MAX_ABS",
    "VAR_FLOOR",
    "StreamingBandDE",
    "band_de",
    "band_de_map",
    "de_from_variance",
]


def de_from_variance(var) -> np.ndarray:
    """``0.5 * ln(2 pi e * max(var, VAR_FLOOR))``, elementwise."""
    return 0.5 * (_LOG_2PIE + np.log(np.maximum(np.asarray(var, dtype=np.float64), VAR_FLOOR)))


# ----------------------------------------------------------------------------- validation


def _check_bands(bands, fs: float) -> tuple[tuple[str, float, float], ...]:
    edges = _band_edges(bands)
    out = []
    for i, ((lo, hi), item) in enumerate(zip(edges, bands, strict=True)):
        lo, hi = _check_band(lo, hi, fs, name=f"bands[{i}]")
        name = str(item[0]) if len(item) == 3 else f"band{i}"
        out.append((name, lo, hi))
    return tuple(out)


def _bank(bands, fs: float):
    """Checked ``(sos_bank, zi, padlen)`` for ``bands`` at ``fs``; arrays are read-only.

    Cached on the band tuple: designing and checking costs ~30 µs, a tenth of a band_de call.
    """
    if isinstance(bands, (str, bytes)):
        return _bank_uncached(bands, fs)  # raises the usual "bands must be ..." error
    try:
        key = tuple(tuple(item) for item in bands)
        hash(key)
    except TypeError:
        return _bank_uncached(bands, fs)
    return _bank_cached(key, fs)


def _bank_uncached(bands, fs: float):
    checked = _check_bands(bands, fs)
    sos = _readonly(bandpass_bank_sos(checked, fs, DEFAULT_ORDER))
    padlen = max(filtfilt_padlen(s) for s in sos)
    return sos, _bank_zi(sos), padlen


_bank_cached = functools.lru_cache(maxsize=64)(_bank_uncached)


def _whole_samples(seconds, fs: float, name: str) -> int:
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


def _input_error(sig: np.ndarray, name: str = "eeg") -> ValueError:
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
    # the zero-phase kernels count non-finite samples themselves (check_finite=False)
    sig = as_signal(arr, "eeg", ndim=2, allow_nonfinite=not check_finite)
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


@njit(cache=True, fastmath={"contract"})  # one rounding per multiply-add
def _stream_update(
    chunk, sos, z, offset, pre, n_seen, sub_len, n_sub, log_2pie, var_floor, max_abs, de_out
):
    """Filter ``chunk`` causally, extend the per-block prefix sums, refresh the DE map.

    ``z`` ``(2, bands, sections, lanes)``: filter state. ``offset`` ``(channels,)``: each
    channel's first sample, set from ``chunk`` when ``n_seen == 0`` and subtracted from
    every sample before filtering (steady-state start, see the module docstring).
    ``pre`` ``(n_sub + 1, sub_len, 2, bands, lanes)``: a ring of blocks of ``sub_len``
    samples; ``pre[q % (n_sub+1), r]`` holds the sum (and sum of squares) of the first
    ``r + 1`` filtered samples of block ``q``. The sum over any ``sub_len`` consecutive
    samples is then O(1): (block total - head of its first block) + head of the next
    block. Sums restart every block, so they never grow long enough to lose precision.

    Returns the new sample count, or -1 (nothing changed) if ``chunk`` holds NaN or a
    sample above ``max_abs`` in magnitude.
    The section loop is written out here rather than calling the filters module,
    because Numba's cache does not notice changes to functions in other files.
    """
    n_ch, n = chunk.shape
    for c in range(n_ch):
        for t in range(n):
            if not abs(chunk[c, t]) <= max_abs:
                return -1
    _, n_bands, n_sec, lanes = z.shape
    n_ring = pre.shape[0]
    if n_seen == 0 and n > 0:
        for c in range(n_ch):
            offset[c] = chunk[c, 0]
    row = np.zeros((n_bands, lanes))
    for t in range(n):
        for b in range(n_bands):
            for c in range(n_ch):
                row[b, c] = chunk[c, t] - offset[c]
        for b in range(n_bands):
            r = row[b]
            for s in range(n_sec):
                b0 = sos[b, s, 0]
                b1 = sos[b, s, 1]
                b2 = sos[b, s, 2]
                a1 = sos[b, s, 4]
                a2 = sos[b, s, 5]
                z0 = z[0, b, s]
                z1 = z[1, b, s]
                for c in range(lanes):
                    xi = r[c]
                    y = b0 * xi + z0[c]
                    z0[c] = b1 * xi - a1 * y + z1[c]
                    z1[c] = b2 * xi - a2 * y
                    r[c] = y
        q = n_seen // sub_len
        k = n_seen % sub_len
        slot = q % n_ring
        for b in range(n_bands):
            r = row[b]
            s1 = pre[slot, k, 0, b]
            s2 = pre[slot, k, 1, b]
            if k == 0:
                for c in range(lanes):
                    s1[c] = r[c]
                    s2[c] = r[c] * r[c]
            else:
                p1 = pre[slot, k - 1, 0, b]
                p2 = pre[slot, k - 1, 1, b]
                for c in range(lanes):
                    s1[c] = p1[c] + r[c]
                    s2[c] = p2[c] + r[c] * r[c]
        n_seen += 1
    if n > 0 and n_seen >= n_sub * sub_len:
        q_last = n_seen // sub_len
        k = n_seen % sub_len
        n_ch_out = de_out.shape[1]
        for j in range(n_sub):
            qa = (q_last - n_sub + j) % n_ring
            qb = (q_last - n_sub + j + 1) % n_ring
            for b in range(n_bands):
                for c in range(n_ch_out):
                    s1 = pre[qa, sub_len - 1, 0, b, c]
                    s2 = pre[qa, sub_len - 1, 1, b, c]
                    if k > 0:
                        s1 += pre[qb, k - 1, 0, b, c] - pre[qa, k - 1, 0, b, c]
                        s2 += pre[qb, k - 1, 1, b, c] - pre[qa, k - 1, 1, b, c]
                    mean = s1 / sub_len
                    var = max(s2 / sub_len - mean * mean, var_floor)
                    de_out[b, c, j] = 0.5 * (log_2pie + math.log(var))
    return n_seen


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
    sos, zi, padlen = _bank(bands, fs)
    sig = _eeg(eeg, padlen + 1, check_finite=False)
    rows, n_bad = _filtfilt_rows(sig, padlen, sos, zi, True, EEG_MAX_ABS)
    if n_bad:
        raise _input_error(sig)
    return _whole_de(rows, sig.shape[0], _LOG_2PIE, VAR_FLOOR)


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
    sos, zi, padlen = _bank(bands, fs)
    sub_len = _whole_samples(subwindow_s, fs, "subwindow_s")
    if not isinstance(zero_phase, (bool, np.bool_)):
        raise ValueError(f"zero_phase must be True or False, got {zero_phase!r}")
    if zero_phase:
        sig = _eeg(eeg, max(sub_len, padlen + 1), check_finite=False)
        rows, n_bad = _filtfilt_rows(sig, padlen, sos, zi, True, EEG_MAX_ABS)
        if n_bad:
            raise _input_error(sig)
    else:
        sig = _eeg(eeg, sub_len, check_finite=False)
        if not np.max(np.abs(sig)) <= EEG_MAX_ABS:  # NaN fails too
            raise _input_error(sig)
        z = _causal_state(sos.shape[0], sos.shape[1], sig.shape[0])
        rows = _sosfilt_rows(sig - sig[:, :1], sos, z)
    n_sub = sig.shape[1] // sub_len
    return _subwindow_de(rows, sig.shape[0], sub_len, n_sub, _LOG_2PIE, VAR_FLOOR)


class StreamingBandDE:
    """Band DE map over the last window of a stream, updated chunk by chunk.

    ``update(chunk)`` takes ``(n_channels, n)`` samples (µV; any n, including 0) and
    costs O(n); ``de_map()`` returns ``(bands, n_channels, window_s / subwindow_s)`` for
    the window ending at the newest sample, equal (to float rounding) to
    ``band_de_map(all_samples_so_far, fs, bands, subwindow_s, zero_phase=False)[..., -K:]``.
    Filtering is causal; each channel's filters start in the steady state for its first
    sample (the first sample, kept in the state, is subtracted from every sample), so an
    electrode offset causes no start-up transient and the first window is already right.

    Each update is one compiled call: filter the chunk, extend per-block prefix sums and
    sums of squares (blocks of one sub-window), and refresh the map, whose sub-window
    sums are O(1) differences of those prefixes.
    """

    def __init__(
        self,
        fs: float,
        n_channels: int,
        bands=DEFAULT_BANDS,
        window_s: float = 10.0,
        subwindow_s: float = 1.0,
    ) -> None:
        self.fs = check_fs(fs)
        if (
            isinstance(n_channels, bool)
            or not isinstance(n_channels, (int, np.integer))
            or n_channels < 1
        ):
            raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
        self.n_channels = int(n_channels)
        self.bands = _check_bands(bands, self.fs)
        self._sos, _, _ = _bank(self.bands, self.fs)
        self.sub_len = _whole_samples(subwindow_s, self.fs, "subwindow_s")
        window_len = _whole_samples(window_s, self.fs, "window_s")
        if window_len % self.sub_len:
            raise ValueError(
                "window_s must be a whole multiple of subwindow_s, "
                f"got {window_s!r} and {subwindow_s!r}"
            )
        self.n_subwindows = window_len // self.sub_len
        self.window_len = window_len
        lanes = -(-self.n_channels // _STREAM_LANES) * _STREAM_LANES
        n_bands, n_sec = self._sos.shape[:2]
        self._z = np.zeros((2, n_bands, n_sec, lanes))
        self._offset = np.zeros(self.n_channels)  # first sample per channel, set by update
        self._pre = np.zeros((self.n_subwindows + 1, self.sub_len, 2, n_bands, lanes))
        self._map = np.zeros((n_bands, self.n_channels, self.n_subwindows))
        self.samples_seen = 0

    @property
    def ready(self) -> bool:
        """True once a whole window (``window_s * fs`` samples) has been seen."""
        return self.samples_seen >= self.window_len

    def reset(self) -> None:
        """Forget the stream: no samples seen; the next sample sets the channel offsets."""
        self._z[...] = 0.0
        self._offset[...] = 0.0
        self._pre[...] = 0.0
        self._map[...] = 0.0
        self.samples_seen = 0

    def update(self, chunk) -> None:
        """Feed the next ``(n_channels, n)`` samples in µV."""
        # Per-hop Python work is kept to a few attribute checks; finiteness and the range
        # (EEG_MAX_ABS) are checked inside the compiled update, before any state changes.
        if type(chunk) is not np.ndarray or chunk.dtype != np.float64 or chunk.ndim != 2:
            chunk = as_signal(chunk, "chunk", ndim=2, min_samples=0, allow_nonfinite=True)
        elif not chunk.flags.c_contiguous:
            chunk = np.ascontiguousarray(chunk)
        if chunk.shape[0] != self.n_channels:
            raise ValueError(
                f"chunk must have {self.n_channels} channels (rows), got shape {chunk.shape}"
            )
        seen = _stream_update(
            chunk,
            self._sos,
            self._z,
            self._offset,
            self._pre,
            self.samples_seen,
            self.sub_len,
            self.n_subwindows,
            _LOG_2PIE,
            VAR_FLOOR,
            EEG_MAX_ABS,
            self._map,
        )
        if seen < 0:
            raise _input_error(chunk, "chunk")
        self.samples_seen = seen

    def de_map(self) -> np.ndarray:
        """``(bands, channels, subwindows)`` DE of the last window (a new array)."""
        if not self.ready:
            raise RuntimeError(
                f"StreamingBandDE needs {self.window_len} samples for a window, "
                f"has seen {self.samples_seen}; check .ready first"
            )
        return self._map.copy()
