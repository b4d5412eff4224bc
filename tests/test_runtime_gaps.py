"""Gaps and resyncs: one GAP record each, memory that never follows a value on the wire,
short gaps filled in place (linearly), streams realigned after a break."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.decision import AbstainReason
from edge_emotion.lane import Gap, hold_missing, interpolate_missing
from edge_emotion.source import ChannelInfo, Chunk, StreamInfo
from edge_emotion.synthetic import recording_streams, synthetic_recording

FS = 250.0
HOP_S = 0.25


@pytest.fixture(scope="module")
def signal(bundle):
    fc = bundle.feature_config
    return synthetic_recording(fc.eeg_channels, 60.0, FS, np.random.default_rng(3))


def _classifier(bundle, engine, streams=None, **config):
    fc = bundle.feature_config
    streams = streams or recording_streams(fc.eeg_channels, FS, fc.ecg_channel)
    return Classifier(bundle, engine, streams, LoopConfig(hop_s=HOP_S, **config))


def _feed(clf, signal, start_s, seconds, lost=0, t_offset=0.0, meta=None, step=50):
    """Feed ``seconds`` of ``signal`` from ``start_s``; the first chunk carries ``lost``
    and ``meta``; timestamps are data time + ``t_offset``."""
    out = []
    a0 = round(start_s * FS)
    for k, a in enumerate(range(a0, a0 + round(seconds * FS), step)):
        idx = np.arange(a, a + step)
        x = np.take(signal, idx, axis=1, mode="wrap")
        first = k == 0
        chunk = Chunk(
            0,
            x,
            t_offset + idx / FS,
            lost_samples=lost if first else 0,
            meta=dict(meta or {}) if first else {},
        )
        out += clf.feed(chunk)
    return out


@pytest.mark.parametrize(
    "how",
    ["index jump 2^31-1", "one hour lost", "timestamps jump by years", "timestamps to inf"],
)
def test_a_long_gap_is_one_record_in_bounded_time_and_memory(bundle, engine, signal, how):
    clf = _classifier(bundle, engine)
    before = _feed(clf, signal, 0.0, 15.0)
    assert len(before) == 60 and not before[-1].abstained
    lost, t_offset, gap = 0, 0.0, None
    if how == "index jump 2^31-1":
        lost, gap = 2**31 - 1, (2**31 - 1) / FS
    elif how == "one hour lost":
        lost, gap = round(3600 * FS), 3600.0
    elif how == "timestamps jump by years":
        t_offset, gap = 3e8, 3e8
    tracemalloc.start()
    t0 = time.perf_counter()
    if how == "timestamps to inf":
        # One chunk stamped at +1e308 s, the next at -1e308 s, then back to normal: three
        # resyncs of unknown length.
        x = signal[:, :50]
        after = clf.feed(Chunk(0, x, np.full(50, 1e308)))
        after += clf.feed(Chunk(0, x, np.full(50, -1e308)))
        after += _feed(clf, signal, 15.4, 14.6)
    else:
        after = _feed(clf, signal, 15.0, 15.0, lost=lost, t_offset=t_offset)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    gaps = [d for d in after if d.reason is AbstainReason.GAP]
    if how == "timestamps to inf":
        assert len(gaps) == 3 and all(d.gap_s is None for d in gaps)
    else:
        (g,) = gaps
        assert g.gap_s == pytest.approx(gap) and g.missing_fraction == 1.0
        assert g.window_end_s == pytest.approx(15.0 + gap)
        assert f"{gap:.3f} s" in g.detail and g.to_json()
    # One record for the gap, then the restart's warm-up and classifications: nothing
    # per hop that was never seen, and no memory that grows with the gap.
    assert len(after) <= 15.0 / HOP_S + 2
    assert peak < 8 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert elapsed < 30.0
    i = after.index(gaps[-1])
    rest = after[i + 1 :]
    warm = [d.reason is AbstainReason.NOT_ENOUGH_DATA for d in rest]
    assert warm[:39] == [True] * 39 and not any(warm[39:])
    assert [d.hop for d in before + after] == list(range(len(before) + len(after)))
    ends = np.array([d.window_end_s for d in rest])
    np.testing.assert_allclose(np.diff(ends), HOP_S)


def test_a_resync_restarts_with_one_record(bundle, engine, signal):
    clf = _classifier(bundle, engine)
    _feed(clf, signal, 0.0, 12.0)
    after = _feed(clf, signal, 12.0, 12.0, meta={"discontinuity": True, "index_jump": 2**31 - 1})
    (g,) = [d for d in after if d.abstained and d.reason is AbstainReason.GAP]
    assert g.gap_s is None and "resynchronised" in g.detail and "2147483647" in g.detail
    assert g.window_end_s == pytest.approx(12.0)  # a resync adds no data time
    assert sum(d.reason is AbstainReason.NOT_ENOUGH_DATA for d in after) == 39


def test_short_gaps_are_filled_in_place_and_counted(bundle, engine, signal):
    """A gap up to max_fill_s is missing samples inside the windows, no GAP record; the
    windows that hold more than max_missing_fraction of them abstain, the others do not."""
    from edge_emotion.quality import QualityConfig

    clf = _classifier(bundle, engine, quality=QualityConfig(max_missing_fraction=0.02))
    assert clf.max_fill_s == pytest.approx(0.02 * 10.0)
    assert _classifier(bundle, engine).max_fill_s == pytest.approx(1.0)  # the default 10%
    recs = _feed(clf, signal, 0.0, 20.0)
    recs += _feed(clf, signal, 20.1, 5.0, lost=25)  # 0.1 s lost: 1% of a window
    recs += _feed(clf, signal, 25.3, 15.0, lost=50)  # 0.2 s: 2%, the limit
    assert not any(d.reason is AbstainReason.GAP for d in recs)
    one = [d for d in recs if 20.25 <= d.window_end_s <= 25.0]  # holds 1% missing
    assert all(d.missing_fraction == pytest.approx(0.01, abs=0.002) for d in one)
    assert not any(d.abstained for d in one)
    both = [d for d in recs if 25.5 <= d.window_end_s <= 30.0]  # 1% + 2%: too many
    assert all(d.reason is AbstainReason.SAMPLES_MISSING for d in both)
    last = [d for d in recs if 30.5 <= d.window_end_s <= 35.0]  # 2%: the limit, allowed
    assert last and not any(d.abstained for d in last)
    # A 0.3-s gap is more than 2% of the window: it restarts the stream instead.
    more = _feed(clf, signal, 40.6, 1.0, lost=75)
    assert more[0].reason is AbstainReason.GAP and more[0].gap_s == pytest.approx(0.3)


def test_max_missing_sets_both_the_check_and_the_fill_limit(bundle, engine, signal):
    from edge_emotion.quality import QualityConfig

    clf = _classifier(bundle, engine, quality=QualityConfig(max_missing_fraction=0.1))
    assert clf.max_fill_s == pytest.approx(1.0)
    recs = _feed(clf, signal, 0.0, 15.0)
    recs += _feed(clf, signal, 15.8, 10.0, lost=200)  # 0.8 s: filled, 8% of a window
    assert not any(d.reason is AbstainReason.GAP for d in recs)
    holding = [d for d in recs if 16.0 <= d.window_end_s <= 25.0]
    assert all(0.07 < d.missing_fraction <= 0.1 for d in holding)
    assert sum(not d.abstained for d in holding) > 0.9 * len(holding)
    assert all(d.to_dict()["missing_fraction"] == round(d.missing_fraction, 4) for d in recs)


def test_every_record_carries_its_missing_fraction(bundle, engine, signal):
    clf = _classifier(bundle, engine)
    x = signal[:, : round(4 * FS)].copy()
    x[:, 100:150] = np.nan  # 50 NaN samples in the first 4 s
    recs = clf.feed(Chunk(0, x, np.arange(x.shape[1]) / FS))
    assert all(d.reason is AbstainReason.NOT_ENOUGH_DATA for d in recs)
    assert recs[-1].missing_fraction == pytest.approx(50 / x.shape[1])
    assert recs[0].missing_fraction == 0.0


def test_interpolation_fills_runs_on_the_line_between_neighbours():
    last = np.array([0.0, 10.0])
    x = np.array(
        [[np.nan, 2.0, np.nan, np.nan, 8.0, np.nan], [11.0, np.nan, 13.0, 14.0, 15.0, 16.0]]
    )
    v, m = interpolate_missing(x, last)
    np.testing.assert_allclose(v[0], [1.0, 2.0, 4.0, 6.0, 8.0, 8.0])  # a trailing run is held
    np.testing.assert_allclose(v[1], [11.0, 12.0, 13.0, 14.0, 15.0, 16.0])
    np.testing.assert_array_equal(m, ~np.isfinite(x))
    np.testing.assert_array_equal(last, [8.0, 16.0])
    # Against a plain twin: np.interp over each row with the previous value at -1.
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.standard_normal((3, 40))
        x[rng.random(x.shape) < 0.3] = np.nan
        last0 = rng.standard_normal(3)
        got, _ = interpolate_missing(x, last0.copy())
        held, _ = hold_missing(x, last0.copy())
        for c in range(3):
            pos = np.arange(-1, 40)
            row = np.concatenate(([last0[c]], x[c]))
            ok = np.isfinite(row)
            want = np.interp(pos[1:], pos[ok], row[ok])
            np.testing.assert_allclose(got[c], want)
            tail = np.flatnonzero(np.isfinite(x[c]))
            after = tail[-1] + 1 if tail.size else 0
            np.testing.assert_array_equal(got[c, after:], held[c, after:])


def test_a_gap_is_filled_linearly_across_its_consumption():
    g = Gap(4, 0.0, np.array([0.0]), np.array([5.0]))
    a = g.values(3)
    g.consume(3)
    b = g.values(1)
    np.testing.assert_allclose(np.concatenate((a, b), axis=1), [[1.0, 2.0, 3.0, 4.0]])


def test_a_break_in_one_stream_realigns_the_other(bundle, engine, signal):
    """EEG and ECG on two streams; the EEG stream loses 20 s, the ECG stream does not:
    one GAP record, the ECG samples of those 20 s are dropped, the streams stay aligned."""
    fc = bundle.feature_config
    eeg_info = StreamInfo(FS, tuple(ChannelInfo(n, "eeg") for n in fc.eeg_channels))
    ecg_info = StreamInfo(FS, (ChannelInfo(fc.ecg_channel, "ecg"),))
    clf = _classifier(bundle, engine, streams=(eeg_info, ecg_info))
    recs = []
    step = 50
    for a in range(0, round(50 * FS), step):
        idx = np.arange(a, a + step)
        x = np.take(signal, idx, axis=1, mode="wrap")
        t = idx / FS
        if not 15.0 <= t[0] < 35.0:  # the EEG stream is gone for 20 s
            lost = round(20 * FS) if t[0] == 35.0 else 0
            recs += clf.feed(Chunk(0, x[:14], t, lost_samples=lost))
        recs += clf.feed(Chunk(1, x[14:], t))
    (g,) = [d for d in recs if d.reason is AbstainReason.GAP]
    assert g.gap_s == pytest.approx(20.0) and "EEG" in g.detail
    after = recs[recs.index(g) + 1 :]
    assert len(after) == 15.0 / HOP_S
    assert [d.window_end_s for d in after] == pytest.approx(35.0 + HOP_S * np.arange(1, 61))
    assert not any(d.abstained for d in after[40:])
    # Both lanes consumed exactly the samples after the gap.
    assert clf.lanes["eeg"].board_count == clf.lanes["ecg"].board_count


def test_the_same_outage_on_two_streams_is_one_record(bundle, engine, signal):
    fc = bundle.feature_config
    eeg_info = StreamInfo(FS, tuple(ChannelInfo(n, "eeg") for n in fc.eeg_channels))
    ecg_info = StreamInfo(FS, (ChannelInfo(fc.ecg_channel, "ecg"),))
    clf = _classifier(bundle, engine, streams=(eeg_info, ecg_info))
    recs = []
    for a in range(0, round(40 * FS), 50):
        idx = np.arange(a, a + 50)
        x = np.take(signal, idx, axis=1, mode="wrap")
        t = idx / FS
        if 15.0 <= t[0] < 20.0:
            continue
        lost = round(5 * FS) if t[0] == 20.0 else 0
        recs += clf.feed(Chunk(0, x[:14], t, lost_samples=lost))
        recs += clf.feed(Chunk(1, x[14:], t, lost_samples=lost))
    assert sum(d.reason is AbstainReason.GAP for d in recs) == 1
    assert not any(d.abstained for d in recs[-20:])
