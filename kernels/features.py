"""The one feature path shared by training and by the device.

A :class:`FeatureConfig` says how a window of EEG and ECG becomes the model's two
inputs (Woo et al., "Deep Multimodal Emotion Recognition using Modality Aware Attention
Network", NeurIPS 2023 workshop):

- EEG -> causal band-pass per band (each channel's filters starting in the steady state
  for its first sample, so electrode offsets cause no start-up transient) ->
  differential entropy per channel and 1-s
  sub-window: a map of shape ``(bands, channels, subwindows)``;
- ECG -> R-peaks -> RR intervals (s) -> artefact correction -> zero-embedded to a fixed
  length ``hrv_length``.

The config travels inside every checkpoint and model bundle (``to_dict``/``from_dict``,
JSON-able) and its ``digest`` keys the training feature cache, so a device can refuse a
bundle whose features it would compute differently.

Choice of ``hrv_length = 32``: a 10-s window at 190 bpm (the upper end of exercise heart
rates in the AMIGOS/DEAP age groups) holds 10 * 190 / 60 = 31.7 beats, so at most 31
intervals; 32 slots leave one spare, and slower hearts leave trailing zeros (the
zero-embedding of the MAAN paper).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import FS_RANGE_HZ, as_signal
from edge_emotion.kernels.de import _LOG_2PIE, DEFAULT_BANDS, VAR_FLOOR, StreamingBandDE
from edge_emotion.kernels.filters import bandpass_bank_sos, sosfilt_bank
from edge_emotion.kernels.hrv import (
    DEFAULT_HALF_WINDOW,
    DEFAULT_RR_RANGE_MS,
    DEFAULT_THRESHOLD,
    RR_METHODS,
    _window_series_kernel,
    as_peaks,
)
from edge_emotion.kernels.rpeaks import StreamingRPeakDetector, detect_rpeaks

EMOTIV_EPOC_CHANNELS: tuple[str, ...] = (
    "AF3",
    "F7",
    "F3",
    "FC5",
    "T7",
    "P7",
    "O1",
    "O2",
    "P8",
    "T8",
    "FC6",
    "F4",
    "F8",
    "AF4",
)

RR_CORRECTIONS = ("local_median", "none")

CONFIG_FORMAT = "edge_emotion.feature_config/1"


def _is_whole(x: float, tol: float = 1e-9) -> bool:
    return abs(x - round(x)) <= tol * max(1.0, abs(x))


@dataclass(frozen=True)
class FeatureConfig:
    """How windows of EEG and ECG become model inputs; validated on construction.

    A window ending at ``t`` uses the EEG of ``[t - window_s, t)`` and the R-peaks of
    ``[t - window_s - d, t - d)``, ``d`` being the streaming R-peak detector's look-ahead
    (``StreamingRPeakDetector(ecg_fs).delay_samples / ecg_fs``, about 2.5 s), so that the
    device and training see the same beats (see :func:`trial_features`).

    Attributes:
        eeg_fs: EEG sampling rate in Hz.
        ecg_fs: ECG sampling rate in Hz (100–1000 Hz, the R-peak detector's range).
        window_s: window length in seconds (10 s in the MAAN paper).
        hop_s: time between consecutive windows in seconds.
        bands: ``(name, low_hz, high_hz)`` EEG bands, ``0 < low < high < eeg_fs / 2``.
        subwindow_s: DE sub-window length in seconds; ``window_s`` must be a whole
            multiple of it.
        hrv_length: slots of the zero-embedded RR series (see the module docstring).
        eeg_channels: EEG electrode names, in model order.
        ecg_channel: name of the ECG channel.
        rr_correction: RR artefact handling, ``"local_median"`` (default, see
            :func:`edge_emotion.kernels.hrv.clean_rr`) or ``"none"``.
    """

    eeg_fs: float = 128.0
    ecg_fs: float = 128.0
    window_s: float = 10.0
    hop_s: float = 0.25
    bands: tuple[tuple[str, float, float], ...] = DEFAULT_BANDS
    subwindow_s: float = 1.0
    hrv_length: int = 32
    eeg_channels: tuple[str, ...] = EMOTIV_EPOC_CHANNELS
    ecg_channel: str = "ECG"
    rr_correction: str = "local_median"

    def __post_init__(self) -> None:
        # Normalise types first (lists from JSON, ints for rates) so equality and the
        # digest do not depend on how the config was spelled.
        for name in ("eeg_fs", "ecg_fs", "window_s", "hop_s", "subwindow_s"):
            value = getattr(self, name)
            if isinstance(value, bool):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"FeatureConfig.{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, value)
        lo, hi = FS_RANGE_HZ
        if not lo <= self.eeg_fs <= hi:
            raise ValueError(
                f"FeatureConfig.eeg_fs must be between {lo:g} and {hi:g} Hz, got {self.eeg_fs:g}"
            )
        if not 100.0 <= self.ecg_fs <= 1000.0:
            raise ValueError(
                "FeatureConfig.ecg_fs must be between 100 and 1000 Hz (the R-peak detector's "
                f"range), got {self.ecg_fs:g}"
            )
        if not _is_whole(self.window_s / self.subwindow_s):
            raise ValueError(
                f"FeatureConfig.window_s ({self.window_s:g} s) must be a whole multiple of "
                f"subwindow_s ({self.subwindow_s:g} s)"
            )
        for name in ("window_s", "subwindow_s", "hop_s"):
            n = getattr(self, name) * self.eeg_fs
            if not _is_whole(n) or round(n) < 1:
                raise ValueError(
                    f"FeatureConfig.{name} * eeg_fs must be a whole number of samples, "
                    f"got {getattr(self, name):g} s * {self.eeg_fs:g} Hz = {n:g}"
                )
        if not _is_whole(self.window_s * self.ecg_fs):
            raise ValueError(
                "FeatureConfig.window_s * ecg_fs must be a whole number of samples, "
                f"got {self.window_s:g} s * {self.ecg_fs:g} Hz"
            )
        if self.hop_s > self.window_s:
            raise ValueError(
                f"FeatureConfig.hop_s ({self.hop_s:g} s) must not exceed window_s "
                f"({self.window_s:g} s)"
            )
        object.__setattr__(self, "bands", self._check_bands(self.bands, self.eeg_fs))
        if isinstance(self.hrv_length, bool) or not isinstance(self.hrv_length, int):
            if isinstance(self.hrv_length, float) and self.hrv_length.is_integer():
                object.__setattr__(self, "hrv_length", int(self.hrv_length))
            else:
                raise ValueError(
                    f"FeatureConfig.hrv_length must be a positive integer, got {self.hrv_length!r}"
                )
        if not 2 <= self.hrv_length <= 4096:
            raise ValueError(
                f"FeatureConfig.hrv_length must be between 2 and 4096, got {self.hrv_length}"
            )
        object.__setattr__(self, "eeg_channels", self._check_channels(self.eeg_channels))
        if not isinstance(self.ecg_channel, str) or not self.ecg_channel.strip():
            raise ValueError(
                f"FeatureConfig.ecg_channel must be a non-empty string, got {self.ecg_channel!r}"
            )
        if self.ecg_channel in self.eeg_channels:
            raise ValueError(
                f"FeatureConfig.ecg_channel {self.ecg_channel!r} is also listed in eeg_channels"
            )
        if self.rr_correction not in RR_CORRECTIONS:
            raise ValueError(
                f"FeatureConfig.rr_correction must be one of {RR_CORRECTIONS}, "
                f"got {self.rr_correction!r}"
            )

    @staticmethod
    def _check_bands(bands: Any, eeg_fs: float) -> tuple[tuple[str, float, float], ...]:
        if isinstance(bands, (str, bytes)) or not hasattr(bands, "__iter__"):
            raise ValueError(
                f"FeatureConfig.bands must be a sequence of (name, low_hz, high_hz), got {bands!r}"
            )
        out = []
        for band in bands:
            if isinstance(band, (str, bytes)) or not hasattr(band, "__len__") or len(band) != 3:
                raise ValueError(
                    f"FeatureConfig.bands entries must be (name, low_hz, high_hz), got {band!r}"
                )
            name, low, high = band
            if not isinstance(name, str) or not name:
                raise ValueError(f"FeatureConfig.bands: band name must be a string, got {name!r}")
            try:
                low, high = float(low), float(high)
            except (TypeError, ValueError):
                raise ValueError(
                    f"FeatureConfig.bands: edges of band {name!r} must be numbers in Hz"
                ) from None
            if not (0.0 < low < high < eeg_fs / 2):
                raise ValueError(
                    f"FeatureConfig.bands: band {name!r} needs 0 < low < high < eeg_fs/2 = "
                    f"{eeg_fs / 2:g} Hz, got {low:g}-{high:g} Hz"
                )
            out.append((name, low, high))
        if not out:
            raise ValueError("FeatureConfig.bands must name at least one band")
        names = [b[0] for b in out]
        if len(set(names)) != len(names):
            raise ValueError(f"FeatureConfig.bands: band names must be unique, got {names}")
        return tuple(out)

    @staticmethod
    def _check_channels(channels: Any) -> tuple[str, ...]:
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
            raise ValueError(
                f"FeatureConfig.eeg_channels must be a sequence of names, got {channels!r}"
            )
        out = tuple(channels)
        if not out:
            raise ValueError("FeatureConfig.eeg_channels must name at least one channel")
        for ch in out:
            if not isinstance(ch, str) or not ch.strip():
                raise ValueError(
                    f"FeatureConfig.eeg_channels entries must be non-empty strings, got {ch!r}"
                )
        if len(set(out)) != len(out):
            dup = sorted({c for c in out if out.count(c) > 1})
            raise ValueError(f"FeatureConfig.eeg_channels has duplicate names: {dup}")
        return out

    # -- derived sizes ---------------------------------------------------------------

    @property
    def n_subwindows(self) -> int:
        return round(self.window_s / self.subwindow_s)

    @property
    def eeg_shape(self) -> tuple[int, int, int]:
        """Shape of one EEG input: ``(bands, channels, subwindows)``."""
        return (len(self.bands), len(self.eeg_channels), self.n_subwindows)

    @property
    def hrv_shape(self) -> tuple[int]:
        """Shape of one ECG input before the channel axis: ``(hrv_length,)``."""
        return (self.hrv_length,)

    @property
    def eeg_window_samples(self) -> int:
        return round(self.window_s * self.eeg_fs)

    @property
    def eeg_subwindow_samples(self) -> int:
        return round(self.subwindow_s * self.eeg_fs)

    @property
    def eeg_hop_samples(self) -> int:
        return round(self.hop_s * self.eeg_fs)

    @property
    def ecg_window_samples(self) -> int:
        return round(self.window_s * self.ecg_fs)

    # -- serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (lists for tuples) that :meth:`from_dict` turns back into this config."""
        d: dict[str, Any] = {"format": CONFIG_FORMAT}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bands":
                value = [[name, low, high] for name, low, high in value]
            elif f.name == "eeg_channels":
                value = list(value)
            d[f.name] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        """Build a config from :meth:`to_dict` output (e.g. parsed JSON); validates it.

        Missing keys take their defaults; unknown keys or another format raise ``ValueError``.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"FeatureConfig.from_dict needs a mapping, got {type(d).__name__}")
        d = dict(d)
        fmt = d.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise ValueError(
                f"FeatureConfig.from_dict: format must be {CONFIG_FORMAT!r}, got {fmt!r}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"FeatureConfig.from_dict: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        if "bands" in d and not isinstance(d["bands"], (str, bytes)):
            d["bands"] = tuple(tuple(b) if isinstance(b, (list, tuple)) else b for b in d["bands"])
        if "eeg_channels" in d and isinstance(d["eeg_channels"], list):
            d["eeg_channels"] = tuple(d["eeg_channels"])
        return cls(**d)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces): the form :meth:`digest` hashes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"FeatureConfig.from_json: not valid JSON ({exc})") from None
        return cls.from_dict(d)

    def digest(self) -> str:
        """Stable sha256 hex digest of the canonical JSON form (feature-cache key)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# the feature path: batch (training) and streaming (device)
# --------------------------------------------------------------------------------------
#
# Window alignment, shared by both paths:
# - a window ending at ``end_s`` holds the samples with timestamps k / fs < end_s, i.e.
#   the first ceil(end_s * fs) samples of the stream (a stream of n samples ends at n / fs);
# - EEG: the last ``window_s`` of those samples, band-passed causally from the stream's
#   first sample (each channel's filters in the steady state for its first sample:
#   that sample is subtracted from the channel, state at rest), DE per consecutive
#   ``subwindow_s`` sub-window;
# - ECG: the beats in [stop - window, stop) with stop = n_ecg - delay, where ``delay`` is
#   the streaming R-peak detector's look-ahead (``StreamingRPeakDetector.delay_samples``,
#   about 2.5 s): every peak before ``stop`` is confirmed by then, so the device sees
#   exactly the beats that batch detection on the whole trial finds there. The ECG
#   window is therefore ``delay / ecg_fs`` seconds older than the EEG window.

_TIME_EPS = 1e-6  # samples; absorbs float error in end_s * fs
_CLEAN_ARGS = (DEFAULT_THRESHOLD, DEFAULT_HALF_WINDOW, *DEFAULT_RR_RANGE_MS)


def ecg_window(n_ecg: int, delay_samples: int, window_samples: int) -> tuple[int, int]:
    """``[start, stop)`` sample range of the ECG window of a stream ``n_ecg`` samples long.

    ``stop = n_ecg - delay_samples`` (every R-peak before it is confirmed by the streaming
    detector), ``start = stop - window_samples``, both clipped at 0.
    """
    stop = max(0, n_ecg - delay_samples)
    return max(0, stop - window_samples), stop


def samples_before(end_s: float, fs: float) -> int:
    """Number of samples with timestamps ``k / fs < end_s`` (the stream length at ``end_s``)."""
    return max(0, math.ceil(end_s * fs - _TIME_EPS))


@njit(cache=True)
def _de_windows_kernel(filtered, ends, n_sub, sub_len, log_2pie, var_floor):
    # filtered: (bands, channels, n) causal band-passed EEG; ends: (W,) sample counts.
    # Prefix sums per (band, channel) make every window O(sub-windows), not O(samples);
    # the mean is removed per sub-window, so the variance matches np.var (ddof=0); the
    # floor and formula are edge_emotion.kernels.de's, so flat channels agree too.
    n_b, n_c, n = filtered.shape
    n_w = ends.shape[0]
    out = np.empty((n_w, n_b, n_c, n_sub), dtype=np.float32)
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


def _check_eeg(eeg, config: FeatureConfig, name: str) -> np.ndarray:
    x = as_signal(eeg, name, ndim=2, min_samples=0)
    if x.shape[0] != len(config.eeg_channels):
        raise ValueError(
            f"{name} must have {len(config.eeg_channels)} channels in the order "
            f"{', '.join(config.eeg_channels)} (FeatureConfig.eeg_channels), got shape {x.shape}"
        )
    return x


def _check_config(config) -> FeatureConfig:
    if not isinstance(config, FeatureConfig):
        raise ValueError(f"config must be a FeatureConfig, got {type(config).__name__}")
    return config


def trial_features(
    eeg,
    ecg,
    config: FeatureConfig,
    window_ends_s,
    return_beats: bool = False,
):
    """Model inputs for windows of one trial (the training path).

    The whole trial is filtered causally and its R-peaks detected once
    (:func:`edge_emotion.kernels.detect_rpeaks`), then each window is cut out; the
    result equals what :class:`StreamingFeatureExtractor` returns when the same samples
    are streamed and ``features()`` is called at each window end (see the alignment
    notes above).

    Args:
        eeg: ``(channels, n_eeg)`` at ``config.eeg_fs``, channels in
            ``config.eeg_channels`` order, from the start of the stream (the filters
            start in the steady state for each channel's sample 0, so an electrode
            offset needs no lead-in; changes after sample 0 still ring the filters in).
        ecg: ``(n_ecg,)`` at ``config.ecg_fs``, starting at the same instant as ``eeg``.
        config: the :class:`FeatureConfig`.
        window_ends_s: ``(W,)`` window end times in seconds from the trial start; each must
            leave a full EEG window (``end_s >= window_s``) and lie within both signals.
        return_beats: also return ``n_beats`` (W,) int64, the beats inside each ECG window
            (a quality gate abstains when there are too few).

    Returns:
        ``(de_maps (W, bands, channels, subwindows) float32, hrv (W, hrv_length) float32)``,
        plus ``n_beats`` when asked. DE in nats of the band-passed signal's unit; HRV in s.
    """
    config = _check_config(config)
    x = _check_eeg(eeg, config, "eeg")
    e = as_signal(ecg, "ecg", ndim=1, min_samples=0)
    ends_s = np.asarray(window_ends_s, dtype=np.float64)
    if ends_s.ndim != 1 or not np.isfinite(ends_s).all():
        raise ValueError(
            f"window_ends_s must be a 1-D array of finite times in s, got shape {ends_s.shape}"
        )
    eeg_ends = np.array([samples_before(t, config.eeg_fs) for t in ends_s], dtype=np.int64)
    ecg_ends = np.array([samples_before(t, config.ecg_fs) for t in ends_s], dtype=np.int64)
    n_w = ends_s.shape[0]
    if n_w and eeg_ends.min() < config.eeg_window_samples:
        raise ValueError(
            f"window_ends_s must be >= window_s = {config.window_s:g} s (a full EEG window), "
            f"got {ends_s.min():g} s"
        )
    if n_w and eeg_ends.max() > x.shape[1]:
        raise ValueError(
            f"window_ends_s reaches {ends_s.max():g} s but eeg holds only "
            f"{x.shape[1] / config.eeg_fs:g} s ({x.shape[1]} samples at {config.eeg_fs:g} Hz)"
        )
    if n_w and ecg_ends.max() > e.shape[0]:
        raise ValueError(
            f"window_ends_s reaches {ends_s.max():g} s but ecg holds only "
            f"{e.shape[0] / config.ecg_fs:g} s ({e.shape[0]} samples at {config.ecg_fs:g} Hz)"
        )

    n_bands, n_ch, n_sub = config.eeg_shape
    if n_w == 0:
        empty = (
            np.zeros((0, n_bands, n_ch, n_sub), np.float32),
            np.zeros((0, config.hrv_length), np.float32),
        )
        return (*empty, np.zeros(0, np.int64)) if return_beats else empty

    n_eeg = int(eeg_ends.max())
    sos_bank = bandpass_bank_sos(config.bands, config.eeg_fs)
    # Each channel's first sample is subtracted, as StreamingBandDE does: the causal
    # filters then start in the steady state for it and offsets cause no transient.
    centred = x[:, :n_eeg] - x[:, :1]
    filtered = np.ascontiguousarray(sosfilt_bank(centred, sos_bank), dtype=np.float64)
    de_maps = _de_windows_kernel(
        filtered, eeg_ends, n_sub, config.eeg_subwindow_samples, _LOG_2PIE, VAR_FLOOR
    )

    delay = StreamingRPeakDetector(config.ecg_fs).delay_samples
    n_ecg = int(ecg_ends.max())
    min_len = math.ceil(config.ecg_fs)  # detect_rpeaks needs 1 s
    peaks = detect_rpeaks(e[:n_ecg], config.ecg_fs) if n_ecg >= min_len else np.zeros(0, np.int64)
    peaks = as_peaks(peaks)
    hrv = np.zeros((n_w, config.hrv_length), np.float32)
    n_beats = np.zeros(n_w, np.int64)
    method = RR_METHODS.index(config.rr_correction)
    for w in range(n_w):
        a, b = ecg_window(int(ecg_ends[w]), delay, config.ecg_window_samples)
        hrv[w], n_beats[w], _ = _window_series_kernel(
            peaks, a, b, config.ecg_fs, config.hrv_length, method, *_CLEAN_ARGS
        )
    return (de_maps, hrv, n_beats) if return_beats else (de_maps, hrv)


class StreamingFeatureExtractor:
    """Device-side feature path: push chunks as they arrive, ask for features every hop.

    ``features()`` returns the model inputs of the window ending at the newest sample,
    equal (float tolerance) to :func:`trial_features` on the same samples with
    ``window_ends_s = [n_eeg / eeg_fs]`` (when ``ceil(end * ecg_fs)`` ECG samples have been
    pushed, which is how a runtime keeps the two modalities aligned).

    EEG goes through :class:`edge_emotion.kernels.StreamingBandDE` (causal filters with
    carried state); ECG through :class:`edge_emotion.kernels.StreamingRPeakDetector`, whose
    confirmed peaks are kept for one window plus the detector's look-ahead. State is a
    fixed set of preallocated arrays: memory does not grow over a long run.

    Attributes after each ``features()`` call: ``n_beats`` (beats inside the ECG window)
    and ``n_artefacts`` (RR intervals corrected); a quality gate uses them to abstain.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = _check_config(config)
        c = self.config
        self._de = StreamingBandDE(
            c.eeg_fs, len(c.eeg_channels), c.bands, window_s=c.window_s, subwindow_s=c.subwindow_s
        )
        self._det = StreamingRPeakDetector(c.ecg_fs)
        self.delay_samples: int = int(self._det.delay_samples)
        # The R-peak detector's refractory period (250 ms) bounds the beats one window
        # plus the look-ahead can hold; the spare slots cover rounding.
        span = c.ecg_window_samples + self.delay_samples
        self._peaks = np.zeros(int(span / (0.2 * c.ecg_fs)) + 16, dtype=np.int64)
        self._method = RR_METHODS.index(c.rr_correction)
        self._n_channels = len(c.eeg_channels)
        self.reset()

    def reset(self) -> None:
        """Forget all data: the next samples start a new stream (filters restarted)."""
        self._de.reset()
        self._det.reset()
        self._n_peaks = 0
        self._n_eeg = 0
        self.n_beats = 0
        self.n_artefacts = 0

    @property
    def eeg_samples_seen(self) -> int:
        return self._n_eeg

    @property
    def ecg_samples_seen(self) -> int:
        return self._det.samples_seen

    @property
    def ready(self) -> bool:
        """True once a full EEG window has been pushed (``features()`` works)."""
        return self._n_eeg >= self.config.eeg_window_samples

    def push_eeg(self, chunk) -> None:
        """Append EEG samples: ``(channels, n)`` in ``config.eeg_channels`` order, finite."""
        if (
            type(chunk) is np.ndarray
            and chunk.dtype == np.float64
            and chunk.ndim == 2
            and chunk.shape[0] == self._n_channels
        ):
            # Hot path (a slice of a float64 buffer): StreamingBandDE checks finiteness
            # inside its compiled update; a contiguous copy keeps it on its fast path.
            chunk = np.ascontiguousarray(chunk)
        else:
            chunk = _check_eeg(chunk, self.config, "chunk")
        self._de.update(chunk)
        self._n_eeg += chunk.shape[1]

    def push_ecg(self, chunk) -> None:
        """Append ECG samples: ``(n,)`` (or ``(1, n)``) at ``config.ecg_fs``, finite."""
        arr = np.asarray(chunk)
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        new = self._det.update(arr)
        if new.size:
            self._add_peaks(new)

    def _add_peaks(self, new: np.ndarray) -> None:
        # Drop peaks that can no longer fall inside any future ECG window.
        start, _ = ecg_window(
            self._det.samples_seen, self.delay_samples, self.config.ecg_window_samples
        )
        n = self._n_peaks
        old = int(np.searchsorted(self._peaks[:n], start))
        keep = n - old
        cap = self._peaks.shape[0]
        if keep + new.size > cap:
            # Denser than the detector's refractory period allows: keep the newest.
            merged = np.concatenate([self._peaks[old:n], new])[-cap:]
            self._peaks[: merged.size] = merged
            self._n_peaks = merged.size
            return
        if old:
            self._peaks[:keep] = self._peaks[old:n]
        self._peaks[keep : keep + new.size] = new
        self._n_peaks = keep + new.size

    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """``(de_map (bands, channels, subwindows) float32, hrv (hrv_length,) float32)``.

        Raises ``RuntimeError`` before a full EEG window has been pushed (see ``ready``).
        """
        c = self.config
        if not self.ready:
            raise RuntimeError(
                f"StreamingFeatureExtractor needs {c.window_s:g} s of EEG "
                f"({c.eeg_window_samples} samples) before features(), got {self._n_eeg}"
            )
        de_map = np.asarray(self._de.de_map(), dtype=np.float32)
        a, b = ecg_window(self._det.samples_seen, self.delay_samples, c.ecg_window_samples)
        hrv, n_beats, n_art = _window_series_kernel(
            self._peaks[: self._n_peaks], a, b, c.ecg_fs, c.hrv_length, self._method, *_CLEAN_ARGS
        )
        self.n_beats = int(n_beats)
        self.n_artefacts = int(n_art)
        return de_map, hrv
