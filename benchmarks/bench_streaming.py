"""Device hop cost: one 0.25-s hop through StreamingFeatureExtractor (push + features).

14 EEG channels x 4 bands at 128 Hz (32 samples) plus one ECG channel at 250 Hz
(62 or 63 samples, 62.5 on average) per hop; goal: median <= 50 µs. The conftest hook
adds p50/p99 to the JSON. Reference in the same run: recomputing the window per hop with
scipy (causal ``sosfilt`` with carried state, ``np.var`` per sub-window) and neurokit2
(``ecg_peaks`` on the 10-s ECG window), which is what a runtime without streaming
kernels would do.

Run: ``pytest benchmarks/bench_streaming.py --benchmark-only
--benchmark-json=benchmark.json``.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.kernels.features import StreamingFeatureExtractor, samples_before
from edge_emotion.synthetic import synthetic_ecg

CONFIG = FeatureConfig(eeg_fs=128.0, ecg_fs=250.0)
ROUNDS = 3000
PREFILL_S = 12.0
DURATION_S = PREFILL_S + (ROUNDS + 200) * CONFIG.hop_s


class HopFeeder:
    """Hands out consecutive hops of a long generated recording."""

    def __init__(self, config: FeatureConfig, duration_s: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        n = round(duration_s * config.eeg_fs)
        t = np.arange(n) / config.eeg_fs
        n_ch = len(config.eeg_channels)
        self.eeg = 10 * rng.standard_normal((n_ch, n)) + 20 * np.sin(2 * np.pi * 10 * t)
        self.ecg, _ = synthetic_ecg(duration_s, config.ecg_fs, np.random.default_rng(seed), 68.0)
        self.config = config
        self.hop = 0
        self.ne = self.nc = 0

    def next_hop(self):
        self.hop += 1
        end = self.hop * self.config.hop_s
        e_to = samples_before(end, self.config.eeg_fs)
        c_to = samples_before(end, self.config.ecg_fs)
        out = (self.eeg[:, self.ne : e_to], self.ecg[self.nc : c_to])
        self.ne, self.nc = e_to, c_to
        return out


def _prefilled():
    feeder = HopFeeder(CONFIG, DURATION_S)
    ext = StreamingFeatureExtractor(CONFIG)
    for _ in range(round(PREFILL_S / CONFIG.hop_s)):
        eeg, ecg = feeder.next_hop()
        ext.push_eeg(eeg)
        ext.push_ecg(ecg)
    assert ext.ready
    ext.features()  # compiled and warm
    return feeder, ext


def test_streaming_hop(benchmark):
    benchmark.group = "streaming hop (14 EEG ch x 4 bands @128 Hz + ECG @250 Hz)"
    feeder, ext = _prefilled()
    hops = [feeder.next_hop() for _ in range(ROUNDS + 20)]
    it = iter(hops)

    def hop():
        eeg, ecg = next(it)
        ext.push_eeg(eeg)
        ext.push_ecg(ecg)
        return ext.features()

    de_map, hrv = benchmark.pedantic(hop, rounds=ROUNDS, iterations=1, warmup_rounds=10)
    assert de_map.shape == CONFIG.eeg_shape and np.isfinite(de_map).all()
    assert ext.n_beats >= 8 and (hrv > 0).sum() >= 7


@pytest.mark.parametrize("part", ["push_eeg", "push_ecg", "features"])
def test_streaming_hop_parts(benchmark, part):
    benchmark.group = "streaming hop parts"
    feeder, ext = _prefilled()
    hops = [feeder.next_hop() for _ in range(ROUNDS + 20)]
    it = iter(hops)
    if part == "push_eeg":

        def step():
            ext.push_eeg(next(it)[0])
    elif part == "push_ecg":

        def step():
            ext.push_ecg(next(it)[1])
    else:

        def step():
            return ext.features()

    benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=10)


def test_streaming_hop_scipy_neurokit2_reference(benchmark):
    nk = pytest.importorskip("neurokit2")
    from scipy.signal import butter, sosfilt

    benchmark.group = "streaming hop (14 EEG ch x 4 bands @128 Hz + ECG @250 Hz)"
    c = CONFIG
    feeder = HopFeeder(c, DURATION_S)
    n_ch = len(c.eeg_channels)
    sos = [butter(4, [lo, hi], "bandpass", fs=c.eeg_fs, output="sos") for _, lo, hi in c.bands]
    zi = [np.zeros((s.shape[0], n_ch, 2)) for s in sos]
    w_eeg = np.zeros((len(sos), n_ch, c.eeg_window_samples))
    w_ecg = np.zeros(c.ecg_window_samples)

    def hop():
        eeg, ecg = feeder.next_hop()
        k = eeg.shape[1]
        w_eeg[:, :, :-k] = w_eeg[:, :, k:]
        for b, s in enumerate(sos):
            w_eeg[b, :, -k:], zi[b] = sosfilt(s, eeg, axis=1, zi=zi[b])
        sub = w_eeg.reshape(len(sos), n_ch, -1, c.eeg_subwindow_samples)
        de = 0.5 * np.log(2 * np.pi * np.e * sub.var(axis=-1))
        m = ecg.shape[0]
        w_ecg[:-m] = w_ecg[m:]
        w_ecg[-m:] = ecg
        _, info = nk.ecg_peaks(w_ecg, sampling_rate=c.ecg_fs)
        rr = np.diff(info["ECG_R_Peaks"]) / c.ecg_fs
        hrv = np.zeros(c.hrv_length, np.float32)
        rr = rr[-c.hrv_length :]
        hrv[: rr.size] = rr
        return de, hrv

    with np.errstate(divide="ignore"):  # the window is still zeros at first
        for _ in range(round(PREFILL_S / c.hop_s)):
            hop()
    benchmark.pedantic(hop, rounds=300, iterations=1, warmup_rounds=5)
