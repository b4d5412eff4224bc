"""Live hop latency: the loop as the device runs it, asleep between hops at the real pace.

The hot-loop benchmarks (``bench_runtime.py``) feed hop after hop back to back, with
warm caches. The device does not: samples arrive at the board's rate and a decision is
due every 0.25 s. Each round here is one hop of the demo bundle (14-channel EEG + ECG at
250 Hz, generated, resampled to 128 Hz, onnxruntime as ``--backend auto`` picks it on
this machine), on the real clock:

- before the timed call (pytest-benchmark's untimed ``setup``), the loop waits for the
  hop's samples as the device would, and is handed those its reads would have found
  before the hop's newest sample arrived;
- timed: the chunk with the hop's newest sample is handed to the classifier, until its
  Decision comes back (newest sample -> decision: the lane, quality checks, features,
  model). ``extra_info["arrival_ms_p50"/"_p99"]`` adds the time the newest sample
  waited for a read: from its arrival on the board's clock to the Decision.

Pacing rows (``benchmark.group = "live_hop"``, pytest-benchmark's table gives the ratio
of each to the fastest, the hot loop):

- ``hot``: no waiting (the hot-loop figure, in the same run);
- ``poll``: the loop before pacing: a read every 5 ms (BrainFlowSource's poll) hands
  the classifier the samples that have arrived;
- ``paced``: :class:`edge_emotion.pacing.HopPacer` as ``run`` uses it: asleep until
  10 ms before the hop is due, then the 5-ms polls;
- ``paced-prime``: the same with the priming engine call on waking.

``extra_info``: the Decision's own latency parts (median and p99, ms) and the process's
CPU time over the rounds, waits included, as % of one core (``cpu_pct``): what each
pacing costs the battery. ``EDGE_EMOTION_LIVE_HOPS`` sets the rounds of each live row
(default 120: 30 s each).

    pytest benchmarks/bench_live.py --benchmark-only --benchmark-json=bench_live.json
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edge_emotion.classifier import Classifier
from edge_emotion.demo_recording import SYNTHETIC_FS
from edge_emotion.engines import create_engine
from edge_emotion.pacing import HopPacer
from edge_emotion.source import Chunk
from edge_emotion.synthetic import recording_streams

FS = SYNTHETIC_FS  # the signal fixture's rate (benchmarks/conftest.py)
WARM_S = 12.0
POLL_S = 0.005  # BrainFlowSource.read's poll
LIVE_HOPS = int(os.environ.get("EDGE_EMOTION_LIVE_HOPS", "120"))
HOT_HOPS = 2000


class LiveHops:
    """A board on the real clock: sample ``j`` arrives at ``t0 + j / FS``. ``setup``
    waits for a hop as ``mode`` says and hands over all its samples but the last;
    ``newest`` hands over the rest and returns the hop's Decision."""

    def __init__(self, clf: Classifier, signal: np.ndarray, mode: str):
        self.clf, self.signal, self.mode = clf, signal, mode
        self.pacer = HopPacer(prime=mode == "paced-prime") if mode.startswith("paced") else None
        self.lane = clf.lanes["eeg"]
        self.hop_m = clf.hop_samples["eeg"]
        self.i = self.k = 0
        self.t0 = time.perf_counter()
        self.decisions = []
        self.arrival_ms: list[float] = []
        self.read_at: float | None = None

    def _feed(self, end: int) -> list:
        idx = np.arange(self.i, end)
        self.i = end
        x = np.take(self.signal, idx, axis=1, mode="wrap")
        return self.clf.feed(Chunk(0, x, idx / FS))

    def _arrived(self) -> int:
        return int((time.perf_counter() - self.t0) * FS)

    def start_live(self) -> None:
        self.t0 = time.perf_counter() - self.i / FS  # the next sample arrives now

    def setup(self):
        self.end = self.lane.resampler.inputs_for((self.clf.hop + 1) * self.hop_m)
        self.end = max(self.end, self.i + 1)  # at least the newest sample is timed
        self.due = self.t0 + self.end / FS  # the hop's newest sample arrives
        if self.mode == "hot":
            self._feed(self.end - 1)
            return
        if self.pacer is not None:
            self.pacer.pause(self.clf, time.sleep, time.perf_counter, self.read_at)
        while True:  # the loop's reads: what has arrived, else a 5-ms poll
            arrived = min(self._arrived(), self.end)
            if arrived == self.end:
                return
            if arrived > self.i:
                assert not self._feed(arrived)
            time.sleep(POLL_S)

    def newest(self):
        # A read returns all that has arrived: the hop's newest sample and any after it
        # (a late read also brings the next hop's first samples, as a board's read does).
        self.read_at = time.perf_counter()
        out = self._feed(self.end if self.mode == "hot" else max(self.end, self._arrived()))
        if self.mode != "hot":
            self.arrival_ms.append(1e3 * (time.perf_counter() - self.due))
        assert len(out) == 1
        self.decisions.append(out[0])
        return out[0]


def _parts(decisions) -> dict:
    info = {}
    for k in ("features", "quality", "inference", "total"):
        v = np.array([d.latency_ms[k] for d in decisions if k in d.latency_ms])
        if v.size:
            info[f"{k}_ms_p50"] = round(float(np.percentile(v, 50)), 4)
            info[f"{k}_ms_p99"] = round(float(np.percentile(v, 99)), 4)
    info["abstained"] = int(sum(d.abstained for d in decisions))
    info["decisions"] = len(decisions)
    return info


@pytest.mark.parametrize("mode", ["hot", "poll", "paced", "paced-prime"])
def test_live_hop_latency(benchmark, bundle, signal, mode):
    fc = bundle.feature_config
    engine = create_engine(bundle, "auto")
    clf = Classifier(bundle, engine, recording_streams(fc.eeg_channels, FS, fc.ecg_channel))
    clf.warm_up()
    hops = LiveHops(clf, signal, mode)
    while hops.i < WARM_S * FS:  # past the window's warm-up, fast
        assert len(hops._feed(hops.lane.resampler.inputs_for((clf.hop + 1) * hops.hop_m))) == 1
    hops.decisions.clear()
    hops.start_live()
    benchmark.group = "live_hop"
    benchmark.extra_info["backend"] = engine.name
    benchmark.extra_info["hop_s"] = clf.hop_s
    rounds = HOT_HOPS if mode == "hot" else LIVE_HOPS
    cpu0, wall0 = time.process_time(), time.perf_counter()
    benchmark.pedantic(hops.newest, setup=hops.setup, rounds=rounds, iterations=1)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    assert not any(d.abstained for d in hops.decisions)
    benchmark.extra_info.update(_parts(hops.decisions))
    benchmark.extra_info["cpu_pct"] = round(100.0 * cpu_s / wall_s, 2)
    if hops.arrival_ms:  # newest sample's arrival -> decision, the read's wait included
        for q in (50, 99):
            v = float(np.percentile(hops.arrival_ms, q))
            benchmark.extra_info[f"arrival_ms_p{q}"] = round(v, 4)
    benchmark.extra_info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    if mode != "hot":  # the live rows kept the real pace
        assert wall_s >= 0.9 * rounds * clf.hop_s
