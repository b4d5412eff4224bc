"""The built-in demo recording: ECG with real QRS complexes and EEG with band structure,
written as a BrainFlow file for the playback board.

BrainFlow's synthetic board is no substitute: its "ECG" channels carry the same sine
waves as its EEG channels, so R-peak detection on them measures nothing. This module
generates, with numpy alone:

- ECG: every beat is a sum of five Gaussian waves (P, Q, R, S, T) in the manner of the
  dynamical model of McSharry et al., "A dynamical model for generating synthetic
  electrocardiogram signals", IEEE Trans. Biomed. Eng. 50(3), 2003 — here placed
  directly at beat times rather than integrated on a limit cycle. Beat-to-beat intervals
  follow a heart rate that rises with arousal, with respiratory sinus arrhythmia
  (0.25 Hz), a Mayer-wave component (0.1 Hz) and random variation; the QT interval
  scales with the square root of RR (Bazett). Baseline wander, mains hum and noise added.
- EEG (the 14 Emotiv EPOC positions by default): 1/f background plus theta, alpha, beta
  and gamma rhythms whose amplitudes follow the state (alpha strongest over occipital
  and parietal sites and at rest; beta/gamma frontal and rising with arousal; a frontal
  alpha asymmetry that follows valence), with volume conduction mixing neighbours.

The state timeline (arousal/valence in [0, 1]) changes a few times so the demo's
decisions move. Amplitudes in µV; it is a demo signal, never a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEMO_MASTER_BOARD = "SYNTHETIC_BOARD"  # 16 ExG rows at 250 Hz
DEMO_FS = 250.0
DEMO_ECG_EXG = 16  # the ECG lead on the 16th ExG input; EEG on 1..14
# (time s, arousal, valence): piecewise-linear state for the demo.
DEMO_TIMELINE = (
    (0.0, 0.1, 0.85),  # calm and pleasant
    (9.0, 0.1, 0.85),
    (12.0, 1.0, 0.3),  # aroused, less pleasant (the 25-s demo shows this change)
    (38.0, 1.0, 0.3),
    (42.0, 0.1, 0.1),  # calm, unpleasant
    (1e9, 0.1, 0.1),
)

_POSTERIOR = {"O1", "O2", "P7", "P8", "P3", "P4", "PZ", "OZ", "PO7", "PO8"}
_FRONTAL_LEFT = {"AF3", "F7", "F3", "FC5", "FP1"}
_FRONTAL_RIGHT = {"AF4", "F8", "F4", "FC6", "FP2"}


@dataclass(frozen=True)
class DemoRecording:
    """A written demo file and how to play it: master board, rate, channel map."""

    path: Path
    master_board: str
    sampling_rate: float
    channel_map: dict
    duration_s: float


def state_at(t: np.ndarray, timeline=DEMO_TIMELINE) -> tuple[np.ndarray, np.ndarray]:
    """Arousal and valence (0..1) at times ``t`` (s) from a piecewise-linear timeline."""
    times = np.array([p[0] for p in timeline])
    arousal = np.interp(t, times, [p[1] for p in timeline])
    valence = np.interp(t, times, [p[2] for p in timeline])
    return arousal, valence


def synth_ecg(duration_s: float, fs: float, rng: np.random.Generator, timeline=DEMO_TIMELINE):
    """ECG (µV) of ``duration_s`` at ``fs`` Hz and its R-peak sample indices."""
    n = round(duration_s * fs)
    beats = []
    t = 0.3 + rng.uniform(0, 0.3)
    while t < duration_s + 1.0:
        arousal, _ = state_at(np.array([t]), timeline)
        hr = 60.0 + 30.0 * arousal[0]  # bpm
        rr = 60.0 / hr
        rr *= 1.0 + 0.04 * np.sin(2 * np.pi * 0.25 * t) + 0.03 * np.sin(2 * np.pi * 0.1 * t)
        rr *= 1.0 + 0.015 * rng.standard_normal()
        beats.append(t)
        t += rr
    beats = np.array(beats)
    rrs = np.diff(beats, append=beats[-1] + 0.8)
    ecg = np.zeros(n)
    tt = np.arange(n) / fs
    # (offset from R in s, amplitude in µV, width in s); T offset scales with sqrt(RR).
    waves = (
        (-0.20, 120.0, 0.025),
        (-0.03, -110.0, 0.010),
        (0.0, 1100.0, 0.011),
        (0.035, -260.0, 0.012),
        (0.26, 300.0, 0.045),
    )
    half = int(0.6 * fs)
    peaks = []
    for tb, rr in zip(beats, rrs, strict=True):
        c = round(tb * fs)
        lo, hi = max(c - half, 0), min(c + half, n)
        if lo >= hi:
            continue
        local = tt[lo:hi] - tb
        amp_jitter = 1.0 + 0.03 * rng.standard_normal()
        for mu, amp, width in waves:
            if mu > 0.1:
                mu *= np.sqrt(rr / 0.8)
            ecg[lo:hi] += amp * amp_jitter * np.exp(-0.5 * ((local - mu) / width) ** 2)
        if 0 <= c < n:
            peaks.append(c)
    ecg += 80.0 * np.sin(2 * np.pi * 0.3 * tt + rng.uniform(0, 2 * np.pi))  # breathing
    ecg += 8.0 * np.sin(2 * np.pi * 50.0 * tt)  # mains
    ecg += 12.0 * rng.standard_normal(n)
    return ecg, np.array(peaks, dtype=np.int64)


def _band_noise(n: int, fs: float, f0: float, bw: float, rng: np.random.Generator):
    """Unit-variance noise concentrated around ``f0`` Hz (Gaussian spectral bump)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= np.exp(-0.5 * ((f - f0) / bw) ** 2)
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def synth_eeg(
    channels, duration_s: float, fs: float, rng: np.random.Generator, timeline=DEMO_TIMELINE
) -> np.ndarray:
    """EEG (channels, n) in µV with state-dependent band structure."""
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    arousal, valence = state_at(t, timeline)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    pink = np.where(f > 0.5, 1.0 / np.sqrt(np.maximum(f, 0.5)), 0.0)
    rhythms = {"theta": (6.0, 1.0), "alpha": (10.0, 1.2), "beta": (20.0, 4.0), "gamma": (38.0, 4.0)}
    out = np.empty((len(channels), n))
    for i, name in enumerate(channels):
        key = name.upper()
        bg = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * pink, n)
        bg *= 8.0 / (bg.std() + 1e-12)
        alpha_gain = 12.0 if key in _POSTERIOR else 5.0
        if key in _FRONTAL_LEFT:
            alpha_gain *= 1.0 - 0.35 * (valence - 0.5)  # left frontal alpha falls with valence
        elif key in _FRONTAL_RIGHT:
            alpha_gain *= 1.0 + 0.35 * (valence - 0.5)
        frontal = key in _FRONTAL_LEFT or key in _FRONTAL_RIGHT
        amps = {
            "theta": (4.0 if frontal else 2.5) * (1.0 + 0.3 * arousal),
            "alpha": alpha_gain * (1.3 - 0.8 * arousal),
            "beta": (4.0 if frontal else 2.5) * (0.6 + 1.2 * arousal),
            "gamma": 1.2 * (0.5 + 1.5 * arousal),
        }
        x = bg
        for band, (f0, bw) in rhythms.items():
            x = x + amps[band] * _band_noise(n, fs, f0, bw, rng)
        out[i] = x + 5.0 * np.sin(2 * np.pi * 50.0 * t + i) + rng.uniform(-40, 40)
    # Volume conduction: each channel picks up a little of its neighbours.
    mix = np.eye(len(channels)) * 0.8 + 0.2 / len(channels)
    return mix @ out


def write_demo_recording(
    path: str | Path,
    duration_s: float = 60.0,
    seed: int = 0,
    eeg_channels=None,
) -> DemoRecording:
    """Write the demo as a BrainFlow file (SYNTHETIC_BOARD layout, 250 Hz) to ``path``.

    EEG electrodes on ExG 1..14 (``eeg_channels``, default the 14 Emotiv EPOC positions
    the demo bundle uses), ECG on ExG 16, ExG 15 a quiet unused input; the timestamp and
    package-number rows are filled.
    """
    from edge_emotion.brainflow_source import _brainflow, _data_filter, board_id

    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    if eeg_channels is None:
        from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS

        eeg_channels = EMOTIV_EPOC_CHANNELS
    eeg_channels = tuple(eeg_channels)
    if len(eeg_channels) > 14:
        raise ValueError(f"eeg_channels: the demo board carries 14 EEG, got {len(eeg_channels)}")
    bf = _brainflow()
    bid = board_id(DEMO_MASTER_BOARD)
    descr = bf.BoardShim.get_board_descr(bid)
    fs = float(descr["sampling_rate"])
    exg = list(bf.BoardShim.get_exg_channels(bid))
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    data = np.zeros((int(descr["num_rows"]), n))
    eeg = synth_eeg(eeg_channels, duration_s, fs, rng)
    ecg, _ = synth_ecg(duration_s, fs, rng)
    for i in range(len(eeg_channels)):
        data[exg[i]] = eeg[i]
    data[exg[14]] = 2.0 * rng.standard_normal(n)
    data[exg[DEMO_ECG_EXG - 1]] = ecg
    data[int(descr["package_num_channel"])] = np.arange(n) % 256
    data[int(descr["timestamp_channel"])] = np.arange(n) / fs
    path = Path(path)
    _data_filter().write_file(np.ascontiguousarray(data), str(path), "w")
    channel_map = {name: i + 1 for i, name in enumerate(eeg_channels)}
    channel_map["ECG"] = DEMO_ECG_EXG
    return DemoRecording(path, DEMO_MASTER_BOARD, fs, channel_map, n / fs)
