"""Synthetic physiology, numpy only: ECG with real QRS complexes and heart-rate
variability, EEG with state-dependent band structure.

One generator for every place that needs a plausible signal without a recording: the
built-in demo (:mod:`edge_emotion.demo_recording`), the firmware bridge's device
emulator, the kernels' demo command, the synthetic training dataset, tests and
benchmarks. It is a test signal, never a dataset.

- ECG: every beat is a sum of five Gaussian waves (P, Q, R, S, T) in the manner of the
  dynamical model of McSharry et al., "A dynamical model for generating synthetic
  electrocardiogram signals", IEEE Trans. Biomed. Eng. 50(3), 2003 — here placed
  directly at beat times rather than integrated on a limit cycle. Beat-to-beat intervals
  follow a heart rate (constant, or a function of time), with respiratory sinus
  arrhythmia (0.25 Hz), a Mayer-wave component (0.1 Hz) and random variation; the QT
  interval scales with the square root of RR (Bazett). Breathing baseline, mains hum
  and noise are added.
- EEG: 1/f background plus theta, alpha, beta and gamma rhythms whose amplitudes follow
  an arousal/valence timeline (alpha strongest over occipital and parietal sites and at
  rest; beta/gamma frontal and rising with arousal; a frontal alpha asymmetry that
  follows valence), with volume conduction mixing neighbours.

Amplitudes in µV. The same ``rng`` state gives the same signal, sample for sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge_emotion.source import ChannelInfo, StreamInfo

# (time s, arousal, valence) in [0, 1]: the piecewise-linear state of the built-in demo,
# which changes a few times so the demo's decisions move.
DEMO_TIMELINE = (
    (0.0, 0.1, 0.85),  # calm and pleasant
    (9.0, 0.1, 0.85),
    (12.0, 1.0, 0.3),  # aroused, less pleasant (the 25-s demo shows this change)
    (38.0, 1.0, 0.3),
    (42.0, 0.1, 0.1),  # calm, unpleasant
    (1e9, 0.1, 0.1),
)

# P, Q, R, S, T: (offset from the R peak in s, amplitude in µV, width in s); offsets
# after the QRS scale with sqrt(RR / 0.8 s).
ECG_WAVES = (
    (-0.20, 120.0, 0.025),
    (-0.03, -110.0, 0.010),
    (0.0, 1100.0, 0.011),
    (0.035, -260.0, 0.012),
    (0.26, 300.0, 0.045),
)

_POSTERIOR = {"O1", "O2", "P7", "P8", "P3", "P4", "PZ", "OZ", "PO7", "PO8"}
_FRONTAL_LEFT = {"AF3", "F7", "F3", "FC5", "FP1"}
_FRONTAL_RIGHT = {"AF4", "F8", "F4", "FC6", "FP2"}


def state_at(t: np.ndarray, timeline=DEMO_TIMELINE) -> tuple[np.ndarray, np.ndarray]:
    """Arousal and valence (0..1) at times ``t`` (s) from a piecewise-linear timeline of
    ``(time s, arousal, valence)`` points."""
    times = np.array([p[0] for p in timeline])
    arousal = np.interp(t, times, [p[1] for p in timeline])
    valence = np.interp(t, times, [p[2] for p in timeline])
    return arousal, valence


def arousal_heart_rate(timeline=DEMO_TIMELINE) -> Callable[[float], float]:
    """Heart rate (bpm) rising from 60 at arousal 0 to 90 at arousal 1 along ``timeline``."""

    def heart_rate(t: float) -> float:
        arousal, _ = state_at(np.array([t]), timeline)
        return 60.0 + 30.0 * arousal[0]

    return heart_rate


def beat_times(
    duration_s: float,
    rng: np.random.Generator,
    heart_rate_bpm: float | Callable[[float], float] = 70.0,
    rsa: float = 0.04,
    mayer: float = 0.03,
    jitter: float = 0.015,
) -> np.ndarray:
    """R-peak times (s) from 0.3-0.6 s to past ``duration_s`` + 1 s.

    Each interval is ``60 / heart_rate_bpm(t)`` scaled by ``1 + rsa·sin(2π·0.25·t) +
    mayer·sin(2π·0.1·t)`` and by ``1 + jitter·N(0, 1)``.
    """
    rate = heart_rate_bpm if callable(heart_rate_bpm) else (lambda t: heart_rate_bpm)
    beats = []
    t = 0.3 + rng.uniform(0, 0.3)
    while t < duration_s + 1.0:
        rr = 60.0 / rate(t)
        rr *= 1.0 + rsa * np.sin(2 * np.pi * 0.25 * t) + mayer * np.sin(2 * np.pi * 0.1 * t)
        rr *= 1.0 + jitter * rng.standard_normal()
        beats.append(t)
        t += rr
    return np.array(beats)


def synthetic_ecg(
    duration_s: float,
    fs: float,
    rng: np.random.Generator,
    heart_rate_bpm: float | Callable[[float], float] = 70.0,
    *,
    rsa: float = 0.04,
    mayer: float = 0.03,
    jitter: float = 0.015,
    waves: Sequence[tuple[float, float, float]] = ECG_WAVES,
    amplitude_jitter: float = 0.03,
    breathing_uv: float = 80.0,
    mains_uv: float = 8.0,
    noise_uv: float = 12.0,
) -> tuple[np.ndarray, np.ndarray]:
    """ECG (µV) of ``duration_s`` at ``fs`` Hz and its R-peak sample indices (int64).

    ``heart_rate_bpm`` is a constant or a function of time (s); ``rsa``, ``mayer`` and
    ``jitter`` shape the intervals (:func:`beat_times`); every beat's waves are scaled by
    ``1 + amplitude_jitter·N(0, 1)``; a 0.3-Hz breathing baseline, 50-Hz mains and white
    noise of the given amplitudes are added.
    """
    if not duration_s > 0 or not fs > 0:
        raise ValueError(f"duration_s and fs must be positive, got {duration_s!r}, {fs!r}")
    beats = beat_times(duration_s, rng, heart_rate_bpm, rsa, mayer, jitter)
    n = round(duration_s * fs)
    rrs = np.diff(beats, append=beats[-1] + 0.8)
    ecg = np.zeros(n)
    tt = np.arange(n) / fs
    half = int(0.6 * fs)
    peaks = []
    for tb, rr in zip(beats, rrs, strict=True):
        c = round(tb * fs)
        lo, hi = max(c - half, 0), min(c + half, n)
        if lo >= hi:
            continue
        local = tt[lo:hi] - tb
        amp_jitter = 1.0 + amplitude_jitter * rng.standard_normal()
        for mu, amp, width in waves:
            if mu > 0.1:
                mu *= np.sqrt(rr / 0.8)
            ecg[lo:hi] += amp * amp_jitter * np.exp(-0.5 * ((local - mu) / width) ** 2)
        if 0 <= c < n:
            peaks.append(c)
    ecg += breathing_uv * np.sin(2 * np.pi * 0.3 * tt + rng.uniform(0, 2 * np.pi))
    ecg += mains_uv * np.sin(2 * np.pi * 50.0 * tt)
    ecg += noise_uv * rng.standard_normal(n)
    return ecg, np.array(peaks, dtype=np.int64)


def _band_noise(n: int, fs: float, f0: float, bw: float, rng: np.random.Generator):
    """Unit-variance noise concentrated around ``f0`` Hz (Gaussian spectral bump)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= np.exp(-0.5 * ((f - f0) / bw) ** 2)
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def synthetic_eeg(
    channels: Sequence[str],
    duration_s: float,
    fs: float,
    rng: np.random.Generator,
    timeline=DEMO_TIMELINE,
) -> np.ndarray:
    """EEG (channels, n) in µV whose band structure follows ``timeline``; electrode
    names (10-20) decide the regional pattern."""
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


def synthetic_recording(
    eeg_channels: Sequence[str],
    duration_s: float,
    fs: float,
    rng: np.random.Generator,
    timeline=DEMO_TIMELINE,
) -> np.ndarray:
    """EEG rows (``eeg_channels``) then one ECG row, (channels + 1, n) in µV at ``fs``:
    both follow ``timeline`` (the heart rate with arousal), as one board records them."""
    eeg = synthetic_eeg(eeg_channels, duration_s, fs, rng, timeline)
    ecg, _ = synthetic_ecg(duration_s, fs, rng, arousal_heart_rate(timeline))
    return np.vstack([eeg, ecg[None]])


def recording_streams(
    eeg_channels: Sequence[str], fs: float, ecg_channel: str = "ECG"
) -> tuple[StreamInfo, ...]:
    """How a source describes :func:`synthetic_recording`'s rows: one stream at ``fs``,
    the EEG channels, then the ECG channel."""
    eeg = tuple(ChannelInfo(name, "eeg") for name in eeg_channels)
    return (StreamInfo(fs, (*eeg, ChannelInfo(ecg_channel, "ecg"))),)
