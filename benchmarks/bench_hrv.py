"""hrv_time vs neurokit2.hrv_time on the same peaks (ratio from the same run).

Run: ``pytest benchmarks/bench_hrv.py --benchmark-only --benchmark-group-by=group``.
Peaks: MIT-BIH record 100's reference beats (30 min, 2273 beats) when ../shared/data is
present, else a generated 30-min train of the same rhythm statistics; plus one 10-s
window (the device's per-hop HRV work) for hrv_series.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_emotion.kernels.hrv import hrv_series, hrv_time

nk = pytest.importorskip("neurokit2")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def peaks_fs():
    path = SHARED / "mitdb" / "100.npz"
    if path.is_file():
        d = np.load(path)
        return d["rpeaks"].astype(np.int64), float(d["fs"])
    rng = np.random.default_rng(0)
    rr = 0.8 + 0.05 * rng.standard_normal(2273)
    return np.round(np.cumsum(rr) * 360.0).astype(np.int64), 360.0


@pytest.fixture(scope="module")
def window_peaks(peaks_fs):
    peaks, fs = peaks_fs
    return peaks[peaks < round(10 * fs)], fs


def test_hrv_time_ours(benchmark, peaks_fs):
    peaks, fs = peaks_fs
    benchmark.group = "hrv_time 30 min"
    hrv_time(peaks, fs)  # compile outside the timing
    out = benchmark(hrv_time, peaks, fs)
    assert out["HR"] > 0


def test_hrv_time_neurokit2(benchmark, peaks_fs):
    peaks, fs = peaks_fs
    benchmark.group = "hrv_time 30 min"
    out = benchmark(nk.hrv_time, peaks, sampling_rate=fs)
    assert out["HRV_MeanNN"].iloc[0] > 0


def test_hrv_time_10s_ours(benchmark, window_peaks):
    peaks, fs = window_peaks
    benchmark.group = "hrv_time 10 s"
    hrv_time(peaks, fs)
    benchmark(hrv_time, peaks, fs)


def test_hrv_time_10s_neurokit2(benchmark, window_peaks):
    peaks, fs = window_peaks
    benchmark.group = "hrv_time 10 s"
    benchmark(nk.hrv_time, peaks, sampling_rate=fs)


def test_hrv_series_10s(benchmark, peaks_fs):
    peaks, fs = peaks_fs
    benchmark.group = "hrv_series 10 s"
    stop = int(peaks[len(peaks) // 2])
    args = (peaks, fs, stop - round(10 * fs), stop, 32)
    hrv_series(*args)
    s = benchmark(hrv_series, *args)
    assert (s > 0).sum() >= 5
