"""The classify loop over an hour of data, faster than real time, with injected faults;
the run loop's reconnect with back-off; the bad-modality policy.

The data are the demo generator's EEG (14 ch) and ECG at 250 Hz (board rate, resampled
to the bundle's 128 Hz), fed in uneven chunks straight into the loop — no sleeping.
"""

from __future__ import annotations

import tracemalloc
from typing import ClassVar

import numpy as np
import pytest

from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.decision import AbstainReason
from edge_emotion.loop import run
from edge_emotion.source import Chunk, SourceError
from edge_emotion.synthetic import recording_streams, synthetic_recording

FS = 250.0
HOP_S = 0.25
# Board reads of 0.05-1 s, as BrainFlow's get_board_data returns them.
CHUNK_SIZES = (25, 125, 31, 250, 12, 62, 200, 95)
# Fault windows (s of data time) and what they do.
NAN = (1200.0, 1202.0)  # EEG channels 0..2 deliver NaN
FLAT = (1800.0, 1815.0)  # O1 lead off: a constant
ECG_OFF = (2100.0, 2110.0)  # ECG lead off: flat zero
SATURATE = (2400.0, 2403.0)  # T7 at the amplifier's rail
DISCONNECT = (3000.0, 3005.0)  # nothing delivered; timestamps jump on reconnect: one GAP


@pytest.fixture(scope="module")
def base_signal(bundle):
    """60 s of demo EEG (bundle channel order) + ECG at 250 Hz, shape (15, 15000)."""
    fc = bundle.feature_config
    return synthetic_recording(fc.eeg_channels, 60.0, FS, np.random.default_rng(7))


def _streams(bundle):
    fc = bundle.feature_config
    return recording_streams(fc.eeg_channels, FS, fc.ecg_channel)


def _inject(x: np.ndarray, t0: float) -> np.ndarray:
    t = t0 + np.arange(x.shape[1]) / FS

    def inside(span):
        return (t >= span[0]) & (t < span[1])

    for span, rows, value in (
        (NAN, slice(0, 3), np.nan),
        (FLAT, slice(6, 7), 3.0),
        (ECG_OFF, slice(14, 15), 0.0),
        (SATURATE, slice(4, 5), 187_500.0),
    ):
        m = inside(span)
        if m.any():
            x[rows, m] = value
    return x


class _Log:
    """Per-hop outcome in preallocated arrays (so the log itself does not grow)."""

    FLAGS: ClassVar[dict[str, int]] = {
        "missing": 1,
        "flat": 2,
        "saturated": 4,
        "ecg bad": 8,
        "warming": 16,
    }

    def __init__(self, n: int):
        self.hop = np.full(n, -1, dtype=np.int64)
        self.end = np.zeros(n)
        self.abstained = np.zeros(n, dtype=bool)
        self.flags = np.zeros(n, dtype=np.uint8)
        self.o1_flat = np.zeros(n, dtype=bool)
        self.code = np.zeros(n, dtype=np.uint8)
        self.n = 0

    def write(self, d) -> None:
        i = self.n
        self.hop[i] = d.hop
        self.end[i] = d.window_end_s
        self.abstained[i] = d.abstained
        reason = d.detail or ""
        f = 0
        for key, bit in self.FLAGS.items():
            if key in reason:
                f |= bit
        self.flags[i] = f
        self.o1_flat[i] = "O1" in d.quality.get("eeg", {}).get("flat_channels", [])
        self.code[i] = d.reason
        self.n += 1

    def close(self) -> None:
        pass

    def select(self, lo: float, hi: float) -> np.ndarray:
        """Mask over the first ``n`` records: window ends in [lo, hi] s."""
        e = self.end[: self.n]
        return (e >= lo - 1e-9) & (e <= hi + 1e-9)


def test_one_hour_replay_every_hop_once_flat_memory_faults_recover(bundle, engine, base_signal):
    hours = 1.0
    total = round(3600 * hours * FS)
    # The 5-s disconnect is one GAP record instead of the 20 hops nobody saw.
    gap_hops = round((DISCONNECT[1] - DISCONNECT[0]) / HOP_S)
    expected_hops = round(3600 * hours / HOP_S) - gap_hops + 1
    log = _Log(expected_hops + 8)
    clf = Classifier(bundle, engine, _streams(bundle), LoopConfig(hop_s=HOP_S))
    n_base = base_signal.shape[1]
    i = 0
    k = 0
    # tracemalloc slows every allocation, so it traces minutes 15-21 (after warm-up,
    # compilation and every first-time allocation); growth is measured over minutes 16-21.
    trace = (round(900 * FS), round(960 * FS), round(1260 * FS))
    mem_first = mem_last = None
    while i < total:
        if i >= trace[0] and not tracemalloc.is_tracing() and mem_last is None:
            tracemalloc.start()
        if i >= trace[1] and mem_first is None:
            mem_first = tracemalloc.get_traced_memory()[0]
        if i >= trace[2] and mem_last is None:
            mem_last = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        n = min(CHUNK_SIZES[k % len(CHUNK_SIZES)], total - i)
        k += 1
        t0 = i / FS
        gone = (round(DISCONNECT[0] * FS), round(DISCONNECT[1] * FS))
        if gone[0] <= i < gone[1]:
            i = gone[1]  # the board is gone: these samples never arrive
            continue
        if i < gone[0] < i + n:
            n = gone[0] - i
        x = np.take(base_signal, np.arange(i, i + n), axis=1, mode="wrap")
        x = _inject(x, t0)
        ts = 1.7e9 + (i + np.arange(n)) / FS
        for d in clf.feed(Chunk(stream=0, data=x, timestamps=ts)):
            log.write(d)
        i += n
    assert n_base == 15000

    # Every hop produced exactly one record, in order; the gap one record ending where the
    # data resumed, and data time counts on across it.
    assert log.n == expected_hops
    np.testing.assert_array_equal(log.hop[: log.n], np.arange(expected_hops))
    before = round(DISCONNECT[0] / HOP_S)
    ends = np.concatenate(
        (
            HOP_S * (np.arange(before) + 1),
            [DISCONNECT[1]],
            DISCONNECT[1] + HOP_S * (np.arange(expected_hops - before - 1) + 1),
        )
    )
    np.testing.assert_allclose(log.end[: log.n], ends)
    assert log.code[before] == AbstainReason.GAP and clf.gaps == 1

    # Memory: flat over 5 traced minutes (1200 hops): a leak of 55 bytes per hop fails.
    growth = mem_last - mem_first
    assert growth < 64 * 1024, f"traced memory grew by {growth / 1024:.0f} KiB in 5 min"
    # ... and nothing queues up: each lane holds at most one hop of pending samples.
    for lane in clf.lanes.values():
        assert not lane.queue and lane.pending_n <= lane.plan.fs_out * HOP_S

    ab = log.abstained[: log.n]
    fl = log.flags[: log.n]
    # Warm-up: exactly the hops before a full window.
    # ... and again after the disconnect restarted the stream.
    warm = log.select(0, 9.75) | log.select(DISCONNECT[1] + 0.25, DISCONNECT[1] + 9.75)
    assert warm.sum() == 2 * 39
    assert ab[warm].all() and (fl[warm] & 16).all()
    assert not (fl[~warm] & 16).any()

    codes = log.code[: log.n]
    assert (codes[warm] == AbstainReason.NOT_ENOUGH_DATA).all()

    def all_abstain_with(lo, hi, bit, code):
        sel = log.select(lo, hi)
        assert sel.sum() >= 4 * (hi - lo)
        assert ab[sel].all(), f"classified inside a fault ({lo}-{hi} s)"
        assert ((fl[sel] & bit) > 0).all(), f"wrong reason inside fault {lo}-{hi} s"
        assert (codes[sel] == code).all(), f"not {code.name} inside fault {lo}-{hi} s"

    # Windows holding more of the NaN run than the 10% (1 s) the check allows abstain;
    # those at its edges, with less of it (filled), classify.
    all_abstain_with(NAN[0] + 1.25, NAN[1] + 8.75, 1, AbstainReason.SAMPLES_MISSING)
    assert not ab[log.select(NAN[0] + 0.25, NAN[0] + 0.75)].any()
    all_abstain_with(FLAT[0] + 1.5, FLAT[1] + 8.5, 2, AbstainReason.LEAD_OFF)
    assert log.o1_flat[: log.n][log.select(FLAT[0] + 1.5, FLAT[1] + 8.5)].all()
    all_abstain_with(ECG_OFF[0] + 1.5, ECG_OFF[1] + 8.5, 8, AbstainReason.LEAD_OFF)
    all_abstain_with(SATURATE[0] + 0.25, SATURATE[1] + 9.75, 4, AbstainReason.SATURATED)
    # A railed input is also flat; the cause names the window (the detail lists both).
    assert (fl[log.select(SATURATE[0] + 1.5, SATURATE[1] + 8.5)] & 2).any()

    # Recovery: after each fault has left the window (plus 20 s for the filters and
    # the R-peak detector to settle), decisions come back.
    for span in (NAN, FLAT, ECG_OFF, SATURATE, DISCONNECT):
        sel = log.select(span[1] + 30.0, span[1] + 60.0)
        assert (~ab[sel]).mean() > 0.8, f"no recovery after the fault at {span}"
    # Clean data away from faults is classified (the demo's ECG/EEG pass the checks).
    clean = log.select(60.0, 1190.0)
    assert (~ab[clean]).mean() > 0.95


class _FlakySource:
    """A source on a simulated clock: 0.1 s chunks; drops out at 30 s for 3 s, and the
    first restart attempt fails."""

    def __init__(self, bundle, base, clock):
        self.bundle, self.base, self.clock = bundle, base, clock
        self.i = 0
        self.starts = 0
        self.stops = 0
        self.running = False

    def start(self):
        self.starts += 1
        if self.starts == 2:
            raise SourceError("device not found (simulated)")
        self.running = True
        return _streams(self.bundle)

    def read(self, timeout_s=0.1):
        assert self.running
        t = self.i / FS
        if 30.0 <= t < 33.0 and self.starts == 1:
            self.i = round(33.0 * FS)  # samples lost while unplugged
            raise SourceError("board disconnected (simulated)")
        n = 25
        x = np.take(self.base, np.arange(self.i, self.i + n), axis=1, mode="wrap")
        ts = (self.i + np.arange(n)) / FS
        self.i += n
        self.clock.t += n / FS
        return [Chunk(stream=0, data=x, timestamps=ts)]

    def stop(self):
        self.stops += 1
        self.running = False


class _Clock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)


def test_run_reconnects_with_backoff_and_reports_the_gap(bundle, engine, base_signal):
    clock = _Clock()
    src = _FlakySource(bundle, base_signal, clock)
    log = _Log(400)
    stats = run(
        src,
        lambda streams: Classifier(bundle, engine, streams, LoopConfig()),
        [log],
        duration_s=50.0,
        clock=clock,
        sleep=clock.sleep,
    )
    assert stats.ended_by.startswith("duration")
    assert stats.reconnects == 2 and clock.sleeps == [0.5, 1.0]
    assert src.stops == src.starts - 1 == 2  # every started session was released
    # Every hop the delivered samples complete; the 3 s lost are one GAP record.
    assert log.n == int(src.i / FS / HOP_S + 1e-9) - 12 + 1
    np.testing.assert_array_equal(log.hop[: log.n], np.arange(log.n))
    assert log.end[log.n - 1] >= 49.0
    ab = log.abstained[: log.n]
    codes = log.code[: log.n]
    (gap,) = np.flatnonzero(codes == AbstainReason.GAP)
    assert log.end[gap] == 33.0 and log.end[gap - 1] == 30.0
    # Then the stream warms up again, as after a start, and classifies.
    warm = log.select(33.25, 42.75)
    assert (codes[warm] == AbstainReason.NOT_ENOUGH_DATA).all() and warm.sum() == 39
    assert not ab[log.select(12.0, 30.0)].any()
    assert not ab[log.select(44.0, 50.0)].any()


def test_bad_modality_policy_is_explicit(bundle, engine, base_signal):
    x = base_signal[:, : round(20 * FS)].copy()
    x[14, round(15 * FS) :] = 0.0  # ECG lead off for the last 5 s
    ts = np.arange(x.shape[1]) / FS

    def feed(clf):
        out = []
        for a in range(0, x.shape[1], 50):
            out += clf.feed(Chunk(0, x[:, a : a + 50], ts[a : a + 50]))
        return out

    abstain = feed(Classifier(bundle, engine, _streams(bundle), LoopConfig(policy="abstain")))
    eeg_only_calls = []

    def eeg_only(eeg):
        eeg_only_calls.append(eeg.shape)
        return np.array([[0.25, 0.75]])

    fallback = feed(
        Classifier(
            bundle,
            engine,
            _streams(bundle),
            LoopConfig(policy="fallback"),
            fallback_engines={"eeg": eeg_only, "ecg": lambda ecg: np.array([[0.5, 0.5]])},
        )
    )
    assert len(abstain) == len(fallback) == 80
    a, f = abstain[-1], fallback[-1]
    assert a.abstained and a.policy == "abstain" and "ecg bad" in a.detail
    assert a.reason is AbstainReason.LEAD_OFF
    assert not f.abstained and f.policy == "fallback" and f.modalities == ("eeg",)
    assert f.probabilities == {"arousal": 0.25, "valence": 0.75}
    assert eeg_only_calls and eeg_only_calls[0] == (1, *bundle.feature_config.eeg_shape)
    # Before the lead came off both used the full model.
    assert abstain[50].modalities == fallback[50].modalities == ("eeg", "ecg")
