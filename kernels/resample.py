"""Streaming polyphase resampling: any board's (or recording's) rate to a model's rate.

``scipy.signal.resample_poly`` works on a whole signal; a board delivers chunks. This
module computes the same polyphase FIR output (the ``upfirdn`` form, with the filter
``resample_poly`` designs: a Kaiser-windowed sinc, beta 5, 10 zero crossings per side of
the slower rate) one chunk at a time, carrying the input history between chunks.
The output is the causal one: it lags ``resample_poly``'s centred output by
``delay_samples`` output samples (half the filter length), and from there on equals it
sample for sample.

Reference: P. P. Vaidyanathan, *Multirate Systems and Filter Banks* (1993), ch. 4
(polyphase decomposition of interpolation/decimation filters).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import as_signal, check_fs
from edge_emotion.kernels.design_cache import cached_design


def rational_ratio(fs_in: float, fs_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """Return ``(up, down)`` in lowest terms with ``fs_in * up / down == fs_out``.

    Raises ``ValueError`` when the ratio of the two rates (Hz) is not a fraction with
    terms up to ``max_denominator`` (board rates are integers in practice).
    """
    fs_in = check_fs(fs_in, "fs_in", lo=1.0)
    fs_out = check_fs(fs_out, "fs_out", lo=1.0)
    frac = Fraction(fs_out / fs_in).limit_denominator(max_denominator)
    if abs(fs_in * frac.numerator / frac.denominator - fs_out) > 1e-9 * fs_out:
        raise ValueError(
            f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz with a rational factor "
            f"up/down of terms <= {max_denominator}; pick a board rate with a simpler ratio"
        )
    return frac.numerator, frac.denominator


def design_resample_filter(up: int, down: int) -> np.ndarray:
    """The FIR low-pass ``scipy.signal.resample_poly`` uses (gain ``up``), pre-padded so
    that its output samples fall on the input grid.

    Returns the filter (float64) taps.
    """
    max_rate = max(up, down)
    half_len = 10 * max_rate

    def low_pass():  # scipy.signal only on a miss (kernels/design_cache.py says why)
        from scipy.signal import firwin

        return firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up

    h = cached_design(f"firwin resample_poly {up} {down}", low_pass)
    n_pre_pad = down - half_len % down
    return np.concatenate((np.zeros(n_pre_pad), h))


@njit(cache=True)
def _polyphase_kernel(ext, n_new, phases, m_start, base, up, down, n_out, out):
    # ext[:, i] holds input sample (base + i), the last n_new of them new; phases[p, t] =
    # h[p + t*up]. Returns False, computing nothing, when a new sample is not finite: one
    # NaN would stay in the history for good.
    n_ch = ext.shape[0]
    taps = phases.shape[1]
    first_new = ext.shape[1] - n_new
    for c in range(n_ch):
        for i in range(first_new, ext.shape[1]):
            if not np.isfinite(ext[c, i]):
                return False
    for k in range(n_out):
        pos = (m_start + k) * down
        j0 = pos // up
        p = pos - j0 * up
        i0 = j0 - base
        for c in range(n_ch):
            acc = 0.0
            for t in range(taps):
                acc += phases[p, t] * ext[c, i0 - t]
            out[c, k] = acc
    return True


class StreamingResampler:
    """Resample ``(channels, samples)`` chunks from ``fs_in`` to ``fs_out`` (Hz), causally.

    ``process(chunk)`` returns the output samples that the inputs seen so far determine;
    concatenated over any chunking they equal ``scipy.signal.upfirdn`` with
    :func:`design_resample_filter`, i.e. ``resample_poly`` delayed by ``delay_samples``.
    With equal rates it passes chunks through (copied). :meth:`inputs_for` says how many
    inputs a given number of outputs needs, so a caller can feed exactly that many.
    """

    def __init__(self, fs_in: float, fs_out: float, n_channels: int) -> None:
        if not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
        self.fs_in = check_fs(fs_in, "fs_in", lo=1.0)
        self.fs_out = check_fs(fs_out, "fs_out", lo=1.0)
        self.n_channels = int(n_channels)
        self.up, self.down = rational_ratio(self.fs_in, self.fs_out)
        self.passthrough = self.up == self.down == 1
        if self.passthrough:
            self.delay_samples = 0
            self._phases = np.zeros((1, 1))
        else:
            h = design_resample_filter(self.up, self.down)
            taps = math.ceil(h.size / self.up)
            padded = np.zeros(taps * self.up)
            padded[: h.size] = h
            self._phases = np.ascontiguousarray(padded.reshape(taps, self.up).T)
            half_len = 10 * max(self.up, self.down)
            self.delay_samples = (half_len + self.down - half_len % self.down) // self.down
        self.reset()

    def reset(self) -> None:
        """Forget all input (history back to zeros, as at construction)."""
        taps = self._phases.shape[1]
        self._hist = np.zeros((self.n_channels, taps))
        self.samples_in = 0
        self.samples_out = 0

    def inputs_for(self, n_outputs: int) -> int:
        """Input samples (counted from the start) after which ``n_outputs`` (>= 1) output
        samples exist: output ``m`` needs input ``floor(m * down / up)``."""
        if self.passthrough:
            return n_outputs
        return -(-(n_outputs - 1) * self.down // self.up) + 1

    def process(self, chunk) -> np.ndarray:
        """Feed ``chunk`` (channels, n), finite, and return the newly determined
        (channels, m) output. A chunk with NaN/inf raises ``ValueError`` and changes
        nothing."""
        if (
            type(chunk) is np.ndarray
            and chunk.dtype == np.float64
            and chunk.ndim == 2
            and chunk.shape[0] == self.n_channels
        ):
            # Hot path (a slice of a float64 buffer): finiteness is checked in the kernel.
            x = chunk
        else:
            x = as_signal(chunk, "chunk", ndim=2, min_samples=0)
            if x.shape[0] != self.n_channels:
                raise ValueError(
                    f"chunk must have {self.n_channels} channels, got shape {tuple(x.shape)}"
                )
        n = x.shape[1]
        if self.passthrough:
            if not np.isfinite(x).all():
                raise _not_finite(x)
            self.samples_in += n
            self.samples_out += n
            return x.copy()
        if n == 0:
            return np.empty((self.n_channels, 0))
        taps = self._phases.shape[1]
        ext = np.concatenate((self._hist, x), axis=1)
        base = self.samples_in - taps
        total_in = self.samples_in + n
        # Output m needs input floor(m*down/up); the last computable is total_in - 1.
        m_end = ((total_in - 1) * self.up) // self.down + 1
        n_out = m_end - self.samples_out
        out = np.empty((self.n_channels, max(n_out, 0)))
        if not _polyphase_kernel(
            ext, n, self._phases, self.samples_out, base, self.up, self.down, max(n_out, 0), out
        ):
            raise _not_finite(x)
        self._hist = np.ascontiguousarray(ext[:, -taps:])
        self.samples_in = total_in
        self.samples_out = m_end if n_out > 0 else self.samples_out
        return out


def _not_finite(x: np.ndarray) -> ValueError:
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    return ValueError(
        f"chunk contains {bad} NaN or infinite values; clean or interpolate them first"
    )
