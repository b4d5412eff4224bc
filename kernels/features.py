"""The one feature path shared by training and by the device.

A :class:`~edge_emotion.kernels.config.FeatureConfig` says how a window of EEG and ECG
becomes the model's two inputs (Woo et al., "Deep Multimodal Emotion Recognition using
Modality Aware Attention Network", NeurIPS 2023 workshop):

- EEG -> causal band-pass per band (each channel's filters starting in the steady state
  for its first sample, so electrode offsets cause no start-up transient) ->
  differential entropy per channel and 1-s
  sub-window: a map of shape ``(bands, channels, subwindows)``;
- ECG -> R-peaks -> RR intervals (s) -> artefact correction -> zero-embedded to a fixed
  length ``hrv_length``.

A config may take one modality only (``FeatureConfig.modalities``): then the other's
signal is not needed (pass ``None``) and its features come back as ``None``.

Both paths are made of the kernels' public functions only: training uses
:func:`~edge_emotion.kernels.de.band_de_windows`, the device
:class:`~edge_emotion.kernels.de_stream.StreamingBandDE`, and both
:func:`~edge_emotion.kernels.detect_rpeaks` (or its streaming form) and
:func:`~edge_emotion.kernels.hrv.hrv_window`; input checks and ranges are theirs.
"""

from __future__ import annotations

import math

import numpy as np

from edge_emotion.kernels._validate import as_signal
from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.kernels.de import band_de_windows
from edge_emotion.kernels.de_stream import StreamingBandDE
from edge_emotion.kernels.hrv import hrv_window
from edge_emotion.kernels.jit_cache import note_first_compile
from edge_emotion.kernels.rpeaks import StreamingRPeakDetector, detect_rpeaks

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
    return_artefacts: bool = False,
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
            ``None`` (ignored) when the config takes no EEG.
        ecg: ``(n_ecg,)`` at ``config.ecg_fs``, starting at the same instant as ``eeg``;
            ``None`` (ignored) when the config takes no ECG.
        config: the :class:`FeatureConfig`.
        window_ends_s: ``(W,)`` window end times in seconds from the trial start; each must
            leave a full window (``end_s >= window_s``) and lie within the signals.
        return_beats: also return ``n_beats`` (W,) int64, the beats inside each ECG window
            (a quality gate abstains when there are too few; zeros without ECG).
        return_artefacts: also return ``n_artefacts`` (W,) int64, the RR intervals of each
            window that the artefact correction replaced (the device's
            ``StreamingFeatureExtractor.n_artefacts``; zeros without ECG).

    Returns:
        ``(de_maps (W, bands, channels, subwindows) float32, hrv (W, hrv_length) float32)``,
        plus ``n_beats`` and ``n_artefacts`` when asked, in that order; the features of a
        modality the config does not take are ``None``. DE in nats of the band-passed
        signal's unit; HRV in s.
    """
    config = _check_config(config)
    x = _check_eeg(eeg, config, "eeg") if config.has_eeg else None
    e = as_signal(ecg, "ecg", ndim=1, min_samples=0) if config.has_ecg else None
    ends_s = np.asarray(window_ends_s, dtype=np.float64)
    if ends_s.ndim != 1 or not np.isfinite(ends_s).all():
        raise ValueError(
            f"window_ends_s must be a 1-D array of finite times in s, got shape {ends_s.shape}"
        )
    n_w = ends_s.shape[0]
    if n_w and ends_s.min() < config.window_s - _TIME_EPS / max(config.eeg_fs, config.ecg_fs):
        raise ValueError(
            f"window_ends_s must be >= window_s = {config.window_s:g} s (a full window), "
            f"got {ends_s.min():g} s"
        )
    de_maps = hrv = None
    n_beats = np.zeros(n_w, np.int64)
    n_artefacts = np.zeros(n_w, np.int64)
    if x is not None:
        eeg_ends = np.array([samples_before(t, config.eeg_fs) for t in ends_s], dtype=np.int64)
        if n_w and eeg_ends.min() < config.eeg_window_samples:
            raise ValueError(
                f"window_ends_s must be >= window_s = {config.window_s:g} s (a full EEG "
                f"window), got {ends_s.min():g} s"
            )
        if n_w and eeg_ends.max() > x.shape[1]:
            raise ValueError(
                f"window_ends_s reaches {ends_s.max():g} s but eeg holds only "
                f"{x.shape[1] / config.eeg_fs:g} s ({x.shape[1]} samples at {config.eeg_fs:g} Hz)"
            )
        # Causal DE of the whole trial at once; it also checks the EEG's range (EEG_MAX_ABS).
        de_maps = band_de_windows(
            x, config.eeg_fs, eeg_ends, config.bands, config.window_s, config.subwindow_s
        ).astype(np.float32)
    if e is not None:
        ecg_ends = np.array([samples_before(t, config.ecg_fs) for t in ends_s], dtype=np.int64)
        if n_w and ecg_ends.max() > e.shape[0]:
            raise ValueError(
                f"window_ends_s reaches {ends_s.max():g} s but ecg holds only "
                f"{e.shape[0] / config.ecg_fs:g} s ({e.shape[0]} samples at {config.ecg_fs:g} Hz)"
            )
        hrv = np.zeros((n_w, config.hrv_length), np.float32)
        if n_w:
            delay = StreamingRPeakDetector(config.ecg_fs).delay_samples
            n_ecg = int(ecg_ends.max())
            min_len = math.ceil(config.ecg_fs)  # detect_rpeaks needs 1 s
            peaks = (
                detect_rpeaks(e[:n_ecg], config.ecg_fs)
                if n_ecg >= min_len
                else np.zeros(0, np.int64)
            )
            for w in range(n_w):
                a, b = ecg_window(int(ecg_ends[w]), delay, config.ecg_window_samples)
                hrv[w], n_beats[w], n_artefacts[w] = hrv_window(
                    peaks, config.ecg_fs, a, b, config.hrv_length, config.rr_correction
                )
    out = (de_maps, hrv)
    if return_beats:
        out += (n_beats,)
    if return_artefacts:
        out += (n_artefacts,)
    return out


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
        note_first_compile()
        c = self.config
        # A modality the config does not take gets no filters; its push_* refuses data.
        self._de = (
            StreamingBandDE(
                c.eeg_fs,
                len(c.eeg_channels),
                c.bands,
                window_s=c.window_s,
                subwindow_s=c.subwindow_s,
            )
            if c.has_eeg
            else None
        )
        self._det = StreamingRPeakDetector(c.ecg_fs)
        self.delay_samples: int = int(self._det.delay_samples)
        # The R-peak detector's refractory period (250 ms) bounds the beats one window
        # plus the look-ahead can hold; the spare slots cover rounding.
        span = c.ecg_window_samples + self.delay_samples
        self._peaks = np.zeros(int(span / (0.2 * c.ecg_fs)) + 16, dtype=np.int64)
        self._n_channels = len(c.eeg_channels)
        self.reset()

    def reset(self) -> None:
        """Forget all data: the next samples start a new stream (filters restarted)."""
        if self._de is not None:
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
        """True once a full window has been pushed (``features()`` works): EEG, or ECG for
        an ECG-only config."""
        if self._de is None:
            return self._det.samples_seen >= self.config.ecg_window_samples
        return self._n_eeg >= self.config.eeg_window_samples

    def push_eeg(self, chunk) -> None:
        """Append EEG samples: ``(channels, n)`` in ``config.eeg_channels`` order, finite."""
        if self._de is None:
            raise ValueError("this feature configuration takes no EEG (modalities: ecg)")
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
        if not self.config.has_ecg:
            raise ValueError("this feature configuration takes no ECG (modalities: eeg)")
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

    def features(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(de_map (bands, channels, subwindows) float32, hrv (hrv_length,) float32)``;
        ``None`` for a modality the config does not take.

        Raises ``RuntimeError`` before a full window has been pushed (see ``ready``).
        """
        c = self.config
        if not self.ready:
            what = "EEG" if self._de is not None else "ECG"
            got = self._n_eeg if self._de is not None else self._det.samples_seen
            need = c.eeg_window_samples if self._de is not None else c.ecg_window_samples
            raise RuntimeError(
                f"StreamingFeatureExtractor needs {c.window_s:g} s of {what} "
                f"({need} samples) before features(), got {got}"
            )
        de_map = np.asarray(self._de.de_map(), dtype=np.float32) if self._de is not None else None
        if not c.has_ecg:
            return de_map, None
        a, b = ecg_window(self._det.samples_seen, self.delay_samples, c.ecg_window_samples)
        hrv, n_beats, n_art = hrv_window(
            self._peaks[: self._n_peaks], c.ecg_fs, a, b, c.hrv_length, c.rr_correction
        )
        self.n_beats = int(n_beats)
        self.n_artefacts = int(n_art)
        return de_map, hrv
