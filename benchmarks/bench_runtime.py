"""End-to-end latency per hop: from handing the loop the chunk with the window's newest
sample to the Decision record (resampling, quality checks, streaming features, engine).

Data: the demo generator's 14-channel EEG + ECG at 250 Hz (a Cyton-class board rate),
resampled to the demo bundle's 128 Hz; each benchmark round feeds exactly the board
samples that complete one hop (62 or 63), so one round = one decision.

Pairs (``benchmark.group = "runtime_hop"``):
- streaming loop, INT8 onnxruntime (the Jetson path without TensorRT) — goal: median
  <= 0.5 ms, p99 <= 2 ms;
- streaming loop, fp32 onnxruntime;
- reference: what a loop without streaming kernels would do every hop — resample the
  last 10 s with ``scipy.signal.resample_poly`` and recompute the window with the batch
  feature path (``trial_features``), then the same INT8 engine.

``extra_info`` carries the medians and p99 of the Decision's own latency parts
(features / quality / inference / total, ms) over the rounds.

    pytest benchmarks/bench_runtime.py --benchmark-only --benchmark-json=bench_runtime.json
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.demo_recording import SYNTHETIC_FS
from edge_emotion.engines import create_engine
from edge_emotion.source import Chunk
from edge_emotion.synthetic import recording_streams

FS = SYNTHETIC_FS  # the signal fixture's rate (benchmarks/conftest.py)
WARM_S = 12.0


def _streams(bundle):
    fc = bundle.feature_config
    return recording_streams(fc.eeg_channels, FS, fc.ecg_channel)


class _HopFeeder:
    """Feeds the board samples of one hop per call; asserts one decision per call."""

    def __init__(self, clf: Classifier, signal: np.ndarray):
        self.clf, self.signal = clf, signal
        self.lane = clf.lanes["eeg"]
        self.hop_m = clf.hop_samples["eeg"]
        self.i = 0
        self.k = 0
        self.decisions = []

    def next_end(self) -> int:
        self.k += 1
        return self.lane.resampler.inputs_for(self.k * self.hop_m)

    def feed_until(self, n_samples: int) -> None:
        while self.i < n_samples:
            self.step()

    def step(self):
        end = self.next_end()
        idx = np.arange(self.i, end)
        x = np.take(self.signal, idx, axis=1, mode="wrap")
        out = self.clf.feed(Chunk(0, x, idx / FS))
        self.i = end
        assert len(out) == 1
        self.decisions.append(out[0])
        if len(self.decisions) > 5000:
            del self.decisions[:2500]
        return out[0]


def _parts(decisions):
    keys = ("features", "quality", "inference", "total")
    lat = {k: np.array([d.latency_ms[k] for d in decisions if k in d.latency_ms]) for k in keys}
    info = {}
    for k, v in lat.items():
        if v.size:
            info[f"{k}_ms_p50"] = float(np.percentile(v, 50))
            info[f"{k}_ms_p99"] = float(np.percentile(v, 99))
    info["abstained"] = int(sum(d.abstained for d in decisions))
    info["decisions"] = len(decisions)
    return info


@pytest.mark.parametrize("backend", ["onnxruntime", "onnxruntime-fp32"])
def test_hop_latency_streaming(benchmark, bundle, signal, backend):
    engine = create_engine(bundle, backend)
    clf = Classifier(bundle, engine, _streams(bundle), LoopConfig())
    feeder = _HopFeeder(clf, signal)
    feeder.feed_until(round(WARM_S * FS))
    feeder.decisions.clear()
    benchmark.group = "runtime_hop"
    benchmark.extra_info["backend"] = engine.name
    benchmark.pedantic(feeder.step, rounds=2000, iterations=1, warmup_rounds=20)
    decisions = feeder.decisions[-2000:]
    assert not any(d.abstained for d in decisions)
    benchmark.extra_info.update(_parts(decisions))


def test_hop_latency_reference_batch_recompute(benchmark, bundle, signal):
    from scipy.signal import resample_poly

    from edge_emotion.kernels.features import trial_features
    from edge_emotion.kernels.resample import rational_ratio

    fc = bundle.feature_config
    engine = create_engine(bundle, "onnxruntime")
    up, down = rational_ratio(FS, fc.eeg_fs)
    n_win = round(fc.window_s * FS)
    state = {"end": round(WARM_S * FS)}
    hop_board = round(fc.hop_s * FS)

    def one_hop():
        end = state["end"] = state["end"] + hop_board
        x = np.take(signal, np.arange(end - n_win, end), axis=1, mode="wrap")
        y = resample_poly(x, up, down, axis=1)
        de, hrv = trial_features(y[:-1], y[-1], fc, [y.shape[1] / fc.eeg_fs])
        return engine.predict(de, hrv[:, None, :])

    benchmark.group = "runtime_hop"
    benchmark.extra_info["backend"] = engine.name
    p = benchmark.pedantic(one_hop, rounds=200, iterations=1, warmup_rounds=3)
    assert p.shape == (1, len(bundle.targets))
