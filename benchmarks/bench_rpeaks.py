"""R-peak detection speed vs neurokit2 (ratios from the same run), streaming hop, compile time.

Run: ``pytest benchmarks/bench_rpeaks.py --benchmark-only --benchmark-group-by=group``.
ECG: the first minute of MIT-BIH record 100 (360 Hz, and resampled to 250 Hz) when
../shared/data is present, else one minute of ``neurokit2.ecg_simulate``. References:
neurokit2 ``ecg_clean`` + ``ecg_peaks`` with the default method and with
``pantompkins1985`` (its fastest), on the same samples. Streaming: one 0.25-s hop
(63 samples at 250 Hz) through ``StreamingRPeakDetector.update``, the detector already
running. Compile: a fresh Python process running its first ``detect_rpeaks`` call, with an
empty ``NUMBA_CACHE_DIR`` (compiles) and again with the cache it left (loads).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from edge_emotion.kernels.rpeaks import StreamingRPeakDetector, detect_rpeaks

nk = pytest.importorskip("neurokit2")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def minute_360() -> np.ndarray:
    path = SHARED / "mitdb" / "100.npz"
    if path.is_file():
        return np.load(path)["ecg"][: 60 * 360].astype(np.float64)
    return nk.ecg_simulate(duration=60, sampling_rate=360, heart_rate=75, random_state=0)


@pytest.fixture(scope="module")
def minute_250(minute_360) -> np.ndarray:
    return resample_poly(minute_360, 25, 36)


def _nk_default(ecg, fs):
    clean = nk.ecg_clean(ecg, sampling_rate=fs)
    return nk.ecg_peaks(clean, sampling_rate=fs)[1]["ECG_R_Peaks"]


def _nk_pantompkins(ecg, fs):
    clean = nk.ecg_clean(ecg, sampling_rate=fs, method="pantompkins1985")
    return nk.ecg_peaks(clean, sampling_rate=fs, method="pantompkins1985")[1]["ECG_R_Peaks"]


METHODS = {"ours": detect_rpeaks, "nk_default": _nk_default, "nk_pantompkins": _nk_pantompkins}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("fs", [360, 250])
def test_rpeaks_one_minute(benchmark, method, fs, minute_360, minute_250):
    ecg = minute_360 if fs == 360 else minute_250
    fn = METHODS[method]
    benchmark.group = f"rpeaks 1 min of ECG at {fs} Hz"
    fn(ecg, fs)  # compile / warm up outside the timing
    peaks = benchmark(fn, ecg, fs)
    assert 50 <= len(peaks) <= 120


def test_rpeaks_stream_hop(benchmark, minute_250):
    fs = 250
    hop = 63  # 0.25 s at 250 Hz, rounded up
    det = StreamingRPeakDetector(fs)
    det.update(minute_250[: 10 * fs])  # running, past the threshold learning
    pos = [10 * fs]
    signal = minute_250

    def step():
        start = pos[0]
        if start + hop > signal.size:
            start = 0
        pos[0] = start + hop
        return det.update(signal[start : start + hop])

    benchmark.group = "rpeaks streaming: one 0.25-s hop at 250 Hz"
    benchmark.pedantic(step, rounds=2000, iterations=1, warmup_rounds=50)
    assert det.samples_seen > 10 * fs


_FIRST_CALL = """
import json, time
t0 = time.perf_counter()
import numpy as np
from edge_emotion.kernels.rpeaks import detect_rpeaks
t1 = time.perf_counter()
x = np.sin(np.linspace(0, 60, 2500)) ** 31
detect_rpeaks(x, 250.0)
t2 = time.perf_counter()
detect_rpeaks(x, 250.0)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1, "second_call_s": t3 - t2}))
"""


def _fresh_process(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cache", ["empty", "warm"])
def test_rpeaks_first_call_in_fresh_process(benchmark, cache):
    """Wall time of a new process's import + first call; the split goes to extra_info."""
    with tempfile.TemporaryDirectory() as tmp:
        if cache == "warm":
            _fresh_process(tmp)  # fills the cache
        runs = []

        def run():
            if cache == "empty":
                for entry in Path(tmp).iterdir():
                    subprocess.run(["rm", "-rf", str(entry)], check=True)
            runs.append(_fresh_process(tmp))

        benchmark.group = "rpeaks compile: fresh process, import + first call"
        benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["first_call_s"] = float(np.median([r["first_call_s"] for r in runs]))
    benchmark.extra_info["import_s"] = float(np.median([r["import_s"] for r in runs]))
    assert all(r["second_call_s"] < r["first_call_s"] for r in runs)
