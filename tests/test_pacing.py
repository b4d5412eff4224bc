"""The loop at the pace of the hops (:mod:`edge_emotion.pacing`): a buffered source is
read a few times per hop instead of every poll, the engine is primed before each hop,
and the decisions are those of a loop that polls. Simulated clock: no timing here."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.loop import run
from edge_emotion.pacing import HopPacer
from edge_emotion.source import Chunk
from edge_emotion.synthetic import recording_streams, synthetic_recording

FS = 250.0
POLL_S = 0.005


class _Board:
    """A board on a simulated clock: sample ``j`` is in its buffer from ``j / FS`` s; a
    read returns what is there, or polls (``POLL_S``) until something is."""

    def __init__(self, bundle, signal, buffered: bool):
        self.bundle, self.signal, self.buffered = bundle, signal, buffered
        self.t = 0.0
        self.i = 0
        self.reads = 0

    def start(self):
        fc = self.bundle.feature_config
        return recording_streams(fc.eeg_channels, FS, fc.ecg_channel)

    def read(self, timeout_s=0.05):
        self.reads += 1
        while int(self.t * FS) <= self.i:
            self.t += POLL_S
        end = int(self.t * FS)
        idx = np.arange(self.i, end)
        self.i = end
        return [Chunk(0, np.take(self.signal, idx, axis=1, mode="wrap"), idx / FS)]

    def stop(self):
        pass

    def clock(self):
        return self.t

    def sleep(self, s):
        self.t += s


class _Counting:
    def __init__(self, engine):
        self.engine, self.name, self.calls = engine, engine.name, 0

    def predict(self, eeg, ecg):
        self.calls += 1
        return self.engine.predict(eeg, ecg)


class _Log:
    def __init__(self):
        self.records = []

    def write(self, d):
        self.records.append(d)

    def close(self):
        pass


@pytest.fixture(scope="module")
def signal(bundle):
    fc = bundle.feature_config
    return synthetic_recording(fc.eeg_channels, 30.0, FS, np.random.default_rng(3))


def _run(bundle, engine, signal, buffered, pacer=None):
    board = _Board(bundle, signal, buffered)
    counting = _Counting(engine)
    log = _Log()
    run(
        board,
        lambda streams: Classifier(bundle, counting, streams, LoopConfig()),
        [log],
        duration_s=15.0,
        clock=board.clock,
        sleep=board.sleep,
        pacer=pacer,
    )
    return board, counting, log.records


def test_a_buffered_source_is_read_at_the_pace_of_the_hops_with_the_same_decisions(
    bundle, engine, signal
):
    polled, _, reference = _run(bundle, engine, signal, buffered=False)
    pacer = HopPacer(prime=True)
    paced, counting, records = _run(bundle, engine, signal, buffered=True, pacer=pacer)
    # 15 s at 4 decisions a second (the duration may end either run a hop earlier)
    assert abs(len(records) - len(reference)) <= 1 and min(len(records), len(reference)) >= 55
    for a, b in zip(records, reference, strict=False):
        assert (a.hop, a.reason, a.labels) == (b.hop, b.reason, b.labels)
        assert a.probabilities == b.probabilities
    # Polling reads ~50 times a hop; paced, one after the sleep and the polls of the lead.
    assert polled.reads / len(reference) > 40
    assert paced.reads / len(records) < 2 + pacer.lead_s / POLL_S
    assert pacer.sleeps >= len(records) - 2
    # One priming call per sleep, besides the classified hops' own calls.
    classified = sum(not d.abstained for d in records)
    assert counting.calls == classified + pacer.sleeps


def test_the_default_pacer_follows_the_source(bundle, engine, signal):
    unbuffered, _, _ = _run(bundle, engine, signal, buffered=False)
    buffered, counting, records = _run(bundle, engine, signal, buffered=True)
    assert buffered.reads < unbuffered.reads / 5
    assert counting.calls == sum(not d.abstained for d in records)  # not primed by default


def test_the_pacer_sleeps_until_lead_before_the_hop_and_never_longer_than_a_hop(bundle, engine):
    fc = bundle.feature_config
    clf = Classifier(bundle, engine, recording_streams(fc.eeg_channels, FS, fc.ecg_channel))
    slept = []
    now = [0.0]

    def sleep(s):
        slept.append(s)
        now[0] += s

    pacer = HopPacer(lead_s=0.03, prime=True)
    assert clf.seconds_to_next_hop() == pytest.approx(clf.hop_s, abs=1 / FS)
    # asleep until the lead (then primed)
    assert pacer.pause(clf, sleep, lambda: now[0]) == pytest.approx(clf.hop_s - 0.03, abs=1 / FS)
    assert slept == pytest.approx([clf.hop_s - 0.03], abs=1 / FS)
    # counted from the read: 0.1 s after it, 0.1 s less to wait
    plain = HopPacer()
    now[0], slept[:] = 10.1, []
    assert plain.pause(clf, sleep, lambda: now[0], read_at=10.0) == pytest.approx(
        clf.hop_s - 0.1 - plain.lead_s, abs=1 / FS
    )
    assert slept == pytest.approx([clf.hop_s - 0.1 - plain.lead_s], abs=1 / FS)
    slept[:] = []
    x = np.zeros((len(fc.eeg_channels) + 1, 60))
    assert not clf.feed(Chunk(0, x[:, :50], np.arange(50) / FS))
    assert clf.seconds_to_next_hop() == pytest.approx(clf.hop_s - 50 / FS, abs=1 / FS)
    assert not clf.feed(Chunk(0, x[:, 50:], np.arange(50, 60) / FS))
    assert clf.seconds_to_next_hop() < 0.03
    assert pacer.pause(clf, sleep, lambda: now[0]) == 0.0  # due within the lead: no sleep
    assert slept == []
    assert clf.feed(Chunk(0, x[:, :5], np.arange(60, 65) / FS))  # the hop is decided
    assert clf.seconds_to_next_hop() > clf.hop_s - 0.03
    with pytest.raises(ValueError, match="lead_s"):
        HopPacer(lead_s=-1)
