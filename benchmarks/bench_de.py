"""Band differential entropy speed, with the references timed in the same run.

- Zero-phase band DE of a 10-s window, 14 channels x 4 bands at 128 Hz:
  ``edge_emotion.kernels.band_de`` vs scipy (``sosfiltfilt`` per band + ``np.var``) and
  BrainFlow (``DataFilter.perform_bandpass`` with ``BUTTERWORTH_ZERO_PHASE``, order 4, per
  channel and band, + ``np.var``). Goal: >= 10x faster than scipy, faster than BrainFlow.
- One 0.25-s hop (32 samples) through ``StreamingBandDE.update`` + ``de_map`` vs a plain
  scipy streaming loop (``sosfilt`` with carried ``zi`` per band, a ring buffer of the
  filtered window, ``np.var`` per sub-window). The conftest hook adds p50/p99 to the JSON.
- Numba compile time: the first calls of every DE/filter kernel in a fresh process with an
  empty ``NUMBA_CACHE_DIR``, and again with that cache warm (what a second run pays).

Run: ``pytest benchmarks/bench_de.py --benchmark-only --benchmark-json=bench_de.json``
(``-s`` also prints the compile times; they are in the JSON's ``extra_info``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.signal

from edge_emotion.kernels.de import DEFAULT_BANDS, band_de
from edge_emotion.kernels.de_stream import StreamingBandDE

FS = 128.0
N_CH = 14
WINDOW_S = 10.0
HOP = 32
GROUP_WINDOW = "band DE, zero-phase, 10-s window, 14 ch x 4 bands @ 128 Hz"
GROUP_HOP = "band DE streaming hop, 0.25 s, 14 ch x 4 bands @ 128 Hz"


def _eeg(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise plus a 10 Hz rhythm on electrode offsets of a few mV, like raw EEG in µV."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)
    t = np.arange(n) / FS
    offsets = rng.uniform(-5e3, 5e3, size=(N_CH, 1))
    return offsets + 10.0 * rng.standard_normal((N_CH, n)) + 15.0 * np.sin(2 * np.pi * 10 * t)


def _de(var):
    return 0.5 * np.log(2 * np.pi * np.e * var)


@pytest.fixture(scope="module")
def window():
    x = _eeg(WINDOW_S)
    band_de(x, FS)  # compiled
    return x


def test_band_de_numba(benchmark, window):
    benchmark.group = GROUP_WINDOW
    out = benchmark.pedantic(band_de, args=(window, FS), rounds=1000, warmup_rounds=10)
    ref = np.stack(
        [_de(scipy.signal.sosfiltfilt(s, window, axis=-1).var(-1)) for s in _bank()], axis=1
    )
    np.testing.assert_allclose(out, ref, atol=5e-7)


def _bank():
    return [
        scipy.signal.butter(4, [lo, hi], btype="bandpass", fs=FS, output="sos")
        for _, lo, hi in DEFAULT_BANDS
    ]


def test_band_de_scipy_reference(benchmark, window):
    benchmark.group = GROUP_WINDOW
    bank = _bank()

    def scipy_de(x):
        return np.stack([_de(scipy.signal.sosfiltfilt(s, x, axis=-1).var(-1)) for s in bank], 1)

    out = benchmark.pedantic(scipy_de, args=(window,), rounds=200, warmup_rounds=5)
    assert out.shape == (N_CH, 4)


def test_band_de_brainflow_reference(benchmark, window):
    benchmark.group = GROUP_WINDOW
    data_filter = pytest.importorskip("brainflow.data_filter")
    perform = data_filter.DataFilter.perform_bandpass
    zero_phase = data_filter.FilterTypes.BUTTERWORTH_ZERO_PHASE.value
    fs = int(FS)

    def brainflow_de(x):
        out = np.empty((N_CH, len(DEFAULT_BANDS)))
        for c in range(N_CH):
            for b, (_, lo, hi) in enumerate(DEFAULT_BANDS):
                y = x[c].copy()  # perform_bandpass filters in place
                perform(y, fs, lo, hi, 4, zero_phase, 0.0)
                out[c, b] = _de(y.var())
        return out

    out = benchmark.pedantic(brainflow_de, args=(window,), rounds=200, warmup_rounds=5)
    assert np.all(np.isfinite(out))


# ----------------------------------------------------------------------------- streaming

ROUNDS = 3000


def _hops(n_hops: int):
    x = _eeg(WINDOW_S + 2 + n_hops * HOP / FS, seed=1)
    warm = round((WINDOW_S + 2) * FS)
    return x[:, :warm], [
        np.ascontiguousarray(x[:, warm + i * HOP : warm + (i + 1) * HOP]) for i in range(n_hops)
    ]


def test_stream_hop_numba(benchmark):
    benchmark.group = GROUP_HOP
    warm, hops = _hops(ROUNDS + 20)
    stream = StreamingBandDE(FS, N_CH, window_s=WINDOW_S)
    stream.update(warm)
    stream.de_map()
    it = iter(hops)

    def hop():
        stream.update(next(it))
        return stream.de_map()

    out = benchmark.pedantic(hop, rounds=ROUNDS, iterations=1, warmup_rounds=10)
    assert out.shape == (4, N_CH, 10)


class _ScipyStreamingDE:
    """What a runtime without these kernels would do per hop, in plain scipy/numpy
    (filters started in the steady state for the first sample, as StreamingBandDE)."""

    def __init__(self) -> None:
        self.bank = _bank()
        self.zi = [np.zeros((s.shape[0], N_CH, 2)) for s in self.bank]
        self.n = round(WINDOW_S * FS)
        self.ring = np.zeros((len(self.bank), N_CH, self.n))
        self.offset = None

    def update(self, chunk):
        if self.offset is None:
            self.offset = chunk[:, :1].copy()
        chunk = chunk - self.offset
        k = min(chunk.shape[1], self.n)
        self.ring = np.roll(self.ring, -k, axis=-1)
        for b, sos in enumerate(self.bank):
            y, self.zi[b] = scipy.signal.sosfilt(sos, chunk, axis=-1, zi=self.zi[b])
            self.ring[b, :, -k:] = y[:, -k:]

    def de_map(self):
        sub = self.ring.reshape(len(self.bank), N_CH, 10, self.n // 10)
        return _de(sub.var(axis=-1))


def test_stream_hop_scipy_reference(benchmark):
    benchmark.group = GROUP_HOP
    warm, hops = _hops(ROUNDS + 20)
    ref = _ScipyStreamingDE()
    ref.update(warm)
    ours = StreamingBandDE(FS, N_CH, window_s=WINDOW_S)
    ours.update(warm)
    np.testing.assert_allclose(ours.de_map(), ref.de_map(), atol=1e-6)
    it = iter(hops)

    def hop():
        ref.update(next(it))
        return ref.de_map()

    benchmark.pedantic(hop, rounds=ROUNDS, iterations=1, warmup_rounds=10)


# ----------------------------------------------------------------------------- compile time

_FIRST_CALLS = textwrap.dedent(
    """
    import json, time
    t0 = time.perf_counter()
    import numpy as np
    from edge_emotion.kernels import band_de, band_de_map, StreamingBandDE, sosfiltfilt_bank
    from edge_emotion.kernels import StreamingFilterBank, sosfilt_bank, bandpass_bank_sos
    t1 = time.perf_counter()
    x = np.random.default_rng(0).standard_normal((14, 1280))
    band_de(x, 128.0)
    band_de_map(x, 128.0, zero_phase=True)
    band_de_map(x, 128.0, zero_phase=False)
    s = StreamingBandDE(128.0, 14)
    s.update(x)
    s.de_map()
    bank = bandpass_bank_sos([("alpha", 8.0, 14.0)], 128.0)
    sosfiltfilt_bank(x, bank)
    sosfilt_bank(x, bank)
    StreamingFilterBank(bank, 14).process(x)
    t2 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "first_calls_s": t2 - t1}))
    """
)


def _first_calls(cache_dir: str) -> dict:
    env = {"NUMBA_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALLS], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compile_time_cold_vs_warm_cache(benchmark, tmp_path):
    """Reports the first-call time (compile or cache load) of every DE/filter kernel."""
    benchmark.group = "band DE compile time (fresh process)"
    cache = str(tmp_path / "numba_cache")
    cold = _first_calls(cache)
    warm = benchmark.pedantic(_first_calls, args=(cache,), rounds=3, iterations=1)
    benchmark.extra_info.update(
        {
            "cold_cache_first_calls_s": cold["first_calls_s"],
            "warm_cache_first_calls_s": warm["first_calls_s"],
            "import_s": warm["import_s"],
        }
    )
    print(
        f"\nfirst calls with an empty NUMBA_CACHE_DIR: {cold['first_calls_s']:.2f} s; "
        f"with the cache warm: {warm['first_calls_s']:.3f} s (import {warm['import_s']:.2f} s)"
    )
    assert warm["first_calls_s"] < cold["first_calls_s"]
