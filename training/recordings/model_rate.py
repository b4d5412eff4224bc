"""A recording's EEG and ECG at the model's rates, through the runtime's resampler.

The device resamples every board rate to the model's with
:class:`edge_emotion.kernels.resample.StreamingResampler`; training data goes through the
same filter here, so both see the same samples.

**Time convention.** ``StreamingResampler`` is causal: its output ``m`` equals
``scipy.signal.resample_poly``'s output ``m - d``, ``d = delay_samples`` (11 model samples,
86 ms at 128 Hz, for 250, 256, 500 or 1000 Hz in). Here the delay is removed:
:func:`resample_aligned` returns sample ``k`` at time ``k / fs_out`` on the input's time
axis (``resample_poly``'s centred convention), so a recording's time axis, its labels and
its markers stay valid at the model's rate. A segment ``[start_s, end_s)`` becomes the
model-rate samples ``k = 0 .. floor((end_s - start_s) * fs_out) - 1`` at times
``start_s + k / fs_out``; EEG and ECG start at the same instant (to within half a model
sample when streams start at different times, as in XDF), which is what
:func:`edge_emotion.kernels.features.trial_features` expects.

**What the device sees.** The device's model-rate stream carries the same values ``d``
samples later: a device window ending at its time ``T`` holds the signal up to ``T - d /
fs_out``, so a training window ending at recording time ``t`` is the device's window at
``t + d / fs_out``. The values agree exactly (same taps, same arithmetic; tested) except
within half the filter's length (about 10 samples of the slower rate) of a stream's first
sample: the device starts its filter from zeros, this path from the first sample held
(``resample_poly(..., padtype="edge")``), so an electrode offset causes no start-up step.

**Missing samples** (NaN in a :class:`~.recording.Stream`) hold the channel's last good
value before resampling (as the runtime's lanes do; a channel's leading NaN take its first
good value), and the model-rate ``missing`` mask marks every output sample whose filter
reached a missing input; the dataset step decides what to do with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_emotion.kernels import (
    StreamingResampler,
    design_resample_filter,
    rational_ratio,
)
from edge_emotion.lane import first_finite, interpolate_missing
from edge_emotion.training.recordings.recording import Recording, RecordingError, Signals

_TIME_TOL = 1e-6  # s; absorbs float error in times read from files


def _taps(up: int, down: int) -> int:
    """Input samples the resampler's filter spans (its history length; 0 when it passes
    samples through)."""
    if up == down:
        return 0
    return math.ceil(design_resample_filter(up, down).size / up)


def resample_aligned(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """``(channels, n)`` finite samples at ``fs_in`` -> ``(channels, ceil(n * fs_out /
    fs_in))`` at ``fs_out``, output ``k`` at time ``k / fs_out`` (see the module docstring).

    Runs :class:`StreamingResampler` over the signal with its edges held (a run-in of the
    first sample, a run-out of the last) and drops its delay; the result equals
    ``scipy.signal.resample_poly(x, up, down, axis=1, padtype="edge")``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"resample_aligned needs (channels, samples), got shape {x.shape}")
    up, down = rational_ratio(fs_in, fs_out)
    n_ch, n = x.shape
    if up == down:
        return x.copy()
    n_out = -(-n * up // down)
    if n == 0:
        return np.zeros((n_ch, 0))
    resampler = StreamingResampler(fs_in, fs_out, n_ch)
    blocks = -(-(_taps(up, down) + 1) // down)
    run_in = np.repeat(x[:, :1], blocks * down, axis=1)  # whole blocks keep the output grid
    first = blocks * up + resampler.delay_samples
    run_out_len = resampler.inputs_for(first + n_out) - run_in.shape[1] - n
    run_out = np.repeat(x[:, -1:], max(run_out_len, 0), axis=1)
    out = resampler.process(np.concatenate((run_in, x, run_out), axis=1))
    return np.ascontiguousarray(out[:, first : first + n_out])


def missing_at_rate(missing: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Model-rate mask of :func:`resample_aligned`'s output: True where the filter of an
    output sample reached a missing input (``missing``: (channels, n) bool)."""
    missing = np.asarray(missing, dtype=bool)
    up, down = rational_ratio(fs_in, fs_out)
    n_ch, n = missing.shape
    n_out = -(-n * up // down)
    if up == down:
        return missing.copy()
    reach = _taps(up, down) / 2 + 1  # input samples either side of an output's position
    pos = np.arange(n_out) * (down / up)
    lo = np.clip(np.floor(pos - reach).astype(np.int64), 0, n)
    hi = np.clip(np.ceil(pos + reach).astype(np.int64) + 1, 0, n)
    counts = np.concatenate((np.zeros((n_ch, 1), np.int64), np.cumsum(missing, axis=1)), axis=1)
    return (counts[:, hi] - counts[:, lo]) > 0


def _held(x: np.ndarray) -> np.ndarray:
    """Missing samples filled as the device fills them (edge_emotion.lane): on the line
    between the good samples around a run, held at the ends."""
    if np.isfinite(x).all():
        return x
    return interpolate_missing(x, first_finite(x, np.zeros(x.shape[0])))[0]


@dataclass(frozen=True)
class ModelRateSignals:
    """A recording's segment at the model's rates (µV); sample ``k`` of a modality is at
    recording time ``<modality>_start_s + k / <modality>_fs``."""

    eeg: np.ndarray | None  # (channels, n_eeg) float64, None when not asked for
    eeg_missing: np.ndarray | None  # (channels, n_eeg) bool
    eeg_channels: tuple[str, ...]
    eeg_fs: float
    eeg_start_s: float | None
    ecg: np.ndarray | None  # (n_ecg,) float64, None when not asked for
    ecg_missing: np.ndarray | None
    ecg_channel: str | None
    ecg_fs: float
    ecg_start_s: float | None
    source_rates: dict[str, float]  # rate in the file, per modality

    @property
    def start_s(self) -> float:
        """Recording time of the first sample (EEG's, or ECG's when EEG was not asked for)."""
        return self.eeg_start_s if self.eeg_start_s is not None else float(self.ecg_start_s)

    @property
    def duration_s(self) -> float:
        pairs = ((self.eeg, self.eeg_fs), (self.ecg, self.ecg_fs))
        return min(x.shape[-1] / fs for x, fs in pairs if x is not None)

    @property
    def missing_fraction(self) -> float:
        """Share of model-rate samples (all channels) marked missing."""
        masks = [m for m in (self.eeg_missing, self.ecg_missing) if m is not None]
        total = sum(m.size for m in masks)
        return float(sum(int(m.sum()) for m in masks) / total) if total else 0.0


def _cut(sig: Signals, fs_out: float, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(values, missing, start time) of ``sig`` at ``fs_out`` over ``[t0, t1)``."""
    up, down = rational_ratio(sig.sampling_rate, fs_out)
    fs_in = sig.sampling_rate
    margin = _taps(up, down) + down
    n = sig.data.shape[1]
    a = max(0, math.floor((t0 - sig.start_s) * fs_in) - margin)
    a -= a % down  # a whole number of output samples before the cut: the grid is kept
    b = min(n, math.ceil((t1 - sig.start_s) * fs_in) + margin)
    x = sig.data[:, a:b]
    values = resample_aligned(_held(x), fs_in, fs_out)
    missing = missing_at_rate(~np.isfinite(x), fs_in, fs_out)
    offset = a * up // down  # model-rate index of values[:, 0] from the stream's start
    first = round((t0 - sig.start_s) * fs_out) - offset
    count = math.floor((t1 - t0) * fs_out + 1e-9)
    count = max(0, min(count, values.shape[1] - first))
    start = sig.start_s + (first + offset) / fs_out
    return values[:, first : first + count], missing[:, first : first + count], start


def model_rate_signals(
    recording: Recording,
    eeg_channels: Sequence[str] | None,
    need_ecg: bool,
    eeg_fs: float,
    ecg_fs: float,
    *,
    ecg_channel: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    need_eeg: bool = True,
) -> ModelRateSignals:
    """EEG (and ECG) of ``recording`` over ``[start_s, end_s)`` at the model's rates.

    Args:
        recording: what a reader returned.
        eeg_channels: electrodes in model order (matched after normalisation), or ``None``
            for every EEG channel found, in file order.
        need_ecg: also return the ECG channel (``ecg_channel`` by name, else the one
            channel of kind ``ecg``).
        eeg_fs, ecg_fs: the model's rates (Hz), e.g. ``FeatureConfig.eeg_fs``/``ecg_fs``.
        start_s, end_s: the segment on the recording's time axis; ``None``: from where all
            needed channels have started / to where the first of them ends.
        need_eeg: ``False`` for ECG alone (a model without EEG): ``eeg`` is then ``None``
            and the recording needs no EEG channel.

    Raises :class:`~.recording.RecordingError` (:class:`~.recording.ChannelNotFound` for a
    missing channel) naming the file, for a segment outside the recording, or a rate with
    no rational ratio to the model's.
    """
    if not (need_eeg or need_ecg):
        raise ValueError("model_rate_signals: ask for EEG, ECG or both")
    eeg = recording.eeg(eeg_channels) if need_eeg else None
    ecg = recording.ecg(ecg_channel) if need_ecg else None
    parts = [p for p in (eeg, ecg) if p is not None]
    span0 = max(p.start_s for p in parts)
    span1 = min(p.start_s + p.data.shape[1] / p.sampling_rate for p in parts)
    t0 = span0 if start_s is None else float(start_s)
    t1 = span1 if end_s is None else float(end_s)
    slack = max(1.0 / p.sampling_rate for p in parts) + _TIME_TOL
    if not (t0 >= span0 - slack and t1 <= span1 + slack and t1 > t0):
        raise RecordingError(
            f"{recording.path}: segment {t0:g}-{t1:g} s is outside the recording's "
            f"{span0:g}-{span1:g} s (where the needed channels all have samples)"
        )
    t0, t1 = max(t0, span0), min(t1, span1)
    try:
        eeg_cut = _cut(eeg, eeg_fs, t0, t1) if eeg is not None else None
        ecg_cut = _cut(ecg, ecg_fs, t0, t1) if ecg is not None else None
    except ValueError as exc:
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(f"{recording.path}: {exc}") from None
    rates = {}
    if eeg is not None:
        rates["eeg"] = eeg.sampling_rate
    if ecg is not None:
        rates["ecg"] = ecg.sampling_rate
    return ModelRateSignals(
        eeg=eeg_cut[0] if eeg_cut else None,
        eeg_missing=eeg_cut[1] if eeg_cut else None,
        eeg_channels=eeg.names if eeg is not None else (),
        eeg_fs=float(eeg_fs),
        eeg_start_s=eeg_cut[2] if eeg_cut else None,
        ecg=ecg_cut[0][0] if ecg_cut else None,
        ecg_missing=ecg_cut[1][0] if ecg_cut else None,
        ecg_channel=ecg.names[0] if ecg is not None else None,
        ecg_fs=float(ecg_fs),
        ecg_start_s=ecg_cut[2] if ecg_cut else None,
        source_rates=rates,
    )
