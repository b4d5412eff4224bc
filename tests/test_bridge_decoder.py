"""The host decoder: incremental framing, resynchronisation, exact loss accounting,
bounded memory; hypothesis fuzzing over corruptions, truncations and splices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_emotion.firmware_bridge.codec import (
    encode_data,
    encode_decision,
    encode_frame,
    encode_info,
)
from edge_emotion.firmware_bridge.decoder import (
    DataEvent,
    DecisionEvent,
    HostDecoder,
    InfoEvent,
    InvalidInfoEvent,
)
from edge_emotion.firmware_bridge.framing import FrameDecoder
from edge_emotion.firmware_bridge.protocol import (
    MAX_FRAME,
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    SampleFormat,
    StreamSpec,
)

INFO = DeviceInfo(
    (
        StreamSpec(0, 250.0, SampleFormat.INT24, tuple(ChannelSpec(f"E{i}") for i in range(3))),
        StreamSpec(5, 125.0, SampleFormat.INT16, (ChannelSpec("ECG", "ecg"),)),
    ),
    device_id=1,
    name="fuzz",
)
_FMT = {0: (SampleFormat.INT24, 3, 2**23), 5: (SampleFormat.INT16, 1, 2**15)}


def _invariant(d: FrameDecoder) -> None:
    s = d.stats
    assert s.bytes_received == s.bytes_skipped + s.bytes_in_frames + d.buffered
    assert d.buffered < MAX_FRAME


def _feed_in_pieces(dec: HostDecoder, data: bytes, cuts: list[int]) -> list:
    events, pos = [], 0
    for size in cuts:
        events += dec.feed(data[pos : pos + size])
        pos += size
        _invariant(dec.framer)
    events += dec.feed(data[pos:])
    _invariant(dec.framer)
    return events


class Recording:
    """Frames as the device sent them, with the truth about each."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.seq = 1
        self.next_index = {0: 0, 5: 0}
        self.frames: list[tuple[int, int, int, np.ndarray, bytes]] = []  # sid, seq, idx, raw, b

    def data(self, sid: int) -> tuple[int, int, int, np.ndarray, bytes]:
        fmt, ch, lim = _FMT[sid]
        n = int(self.rng.integers(1, 21))
        raw = self.rng.integers(-lim, lim, (n, ch))
        idx = self.next_index[sid]
        b = encode_data(DataBlock(sid, fmt, idx, 0, raw), self.seq, idx * 4000)
        rec = (sid, self.seq, idx, raw, b)
        self.frames.append(rec)
        self.seq += 1
        self.next_index[sid] = (idx + n) & 0xFFFFFFFF
        return rec


OPS = ("keep", "flip", "truncate", "drop", "garbage", "splice", "sync_noise")


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # CRC-16 lets a random splice through with p = 2^-16: keep CI stable
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(1, 400), max_size=30),
)
def test_fuzz_corruptions_never_raise_and_account_exactly(ops, seed, cuts):
    rng = np.random.default_rng(seed)
    rec = Recording(rng)
    parts = [encode_info(INFO, 0, 0), rec.data(0)[4], rec.data(5)[4]]
    delivered_truth = [f[:3] for f in rec.frames]
    for op in ops:
        sid, seq, idx, _raw, b = rec.data(int(rng.choice([0, 5])))
        b = bytearray(b)
        if op == "keep":
            delivered_truth.append((sid, seq, idx))
        elif op == "flip":
            # 1..3 bit errors: CRC-16/CCITT detects every one of them at these lengths.
            for pos in rng.choice(len(b) * 8, int(rng.integers(1, 4)), replace=False):
                b[pos // 8] ^= 1 << (pos % 8)
        elif op == "truncate":
            b = b[: int(rng.integers(1, len(b)))]
        elif op == "drop":
            b = bytearray()
        elif op == "garbage":
            parts.append(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes())
            delivered_truth.append((sid, seq, idx))
        elif op == "splice":
            other = rec.frames[int(rng.integers(0, len(rec.frames)))][4]
            b = b[: int(rng.integers(1, len(b)))] + other[int(rng.integers(1, len(other))) :]
        elif op == "sync_noise":
            # A false header whose length points far ahead: the decoder must rescan.
            parts.append(b"\xa5\x5a\x01\x02" + int(rng.integers(0, 2049)).to_bytes(2, "little"))
            delivered_truth.append((sid, seq, idx))
        parts.append(bytes(b))
    for sid in (0, 5):  # clean trailer: reveals every gap
        delivered_truth.append(rec.data(sid)[:3])
        parts.append(rec.frames[-1][4])
    data = b"".join(parts) + bytes(MAX_FRAME)  # zeros flush a false length at the very end

    dec = HostDecoder()
    events = _feed_in_pieces(dec, data, cuts)

    assert isinstance(events[0], InfoEvent) and events[0].info == INFO
    got = [(e.block.stream_id, e.frame.seq, e.block.sample_index) for e in events[1:]]
    assert all(isinstance(e, DataEvent) for e in events[1:])
    assert got == delivered_truth
    truth = {(sid, seq): (idx, raw) for sid, seq, idx, raw, _ in rec.frames}
    for e in events[1:]:
        np.testing.assert_array_equal(e.block.raw, truth[(e.block.stream_id, e.frame.seq)][1])
    # Samples lost == samples in the frames not delivered, per stream, exactly.
    delivered = set(got)
    for sid in (0, 5):
        missing = sum(
            raw.shape[0]
            for s, seq, idx, raw, _ in rec.frames
            if s == sid and (s, seq, idx) not in delivered
        )
        assert dec.stats.streams[sid].samples_lost == missing
        lost_events = sum(e.lost_before for e in events[1:] if e.block.stream_id == sid)
        assert lost_events == missing
    assert dec.stats.frames_lost == len(rec.frames) + 1 - len(events)
    assert dec.stats.malformed_frames == 0


@settings(max_examples=60, deadline=None)
@given(garbage=st.binary(max_size=5000), cuts=st.lists(st.integers(1, 700), max_size=10))
def test_garbage_never_raises_and_memory_stays_bounded(garbage, cuts):
    dec = HostDecoder()
    frame = encode_decision(Decision(0.5, 0.5, True, False), 3)
    data = garbage + frame + bytes(MAX_FRAME) + frame
    events = _feed_in_pieces(dec, data, cuts)
    # At least the last frame gets through (the first may hide behind a false header
    # that the zero padding flushes, or a false frame).
    assert events and isinstance(events[-1], DecisionEvent)
    assert events[-1].decision.arousal_high


def test_sync_heavy_garbage_is_bounded():
    """Megabytes of false sync words with plausible headers: the buffer never grows."""
    fake = b"\xa5\x5a\x01\x02\x00\x08" + bytes(6)  # claims a 2048-byte payload
    data = fake * 90_000
    dec = FrameDecoder()
    for k in range(0, len(data), 65_536):
        assert dec.feed(data[k : k + 65_536]) == []
        _invariant(dec)
    assert dec.stats.crc_errors > 0 and dec.stats.frames_ok == 0


def test_byte_by_byte_equals_one_shot():
    rng = np.random.default_rng(1)
    rec = Recording(rng)
    data = encode_info(INFO, 0, 0) + b"".join(rec.data(int(s))[4] for s in [0, 5, 0, 0, 5] * 4)
    one = HostDecoder().feed(data)
    dec = HostDecoder()
    many = [e for i in range(len(data)) for e in dec.feed(data[i : i + 1])]
    assert [e.frame for e in one] == [e.frame for e in many]
    assert len(one) == 21


def _data(sid: int, idx: int, n: int, seq: int) -> bytes:
    return encode_data(DataBlock(sid, SampleFormat.INT16, idx, 0, np.zeros((n, 1), int)), seq, 0)


def test_gaps_across_index_and_seq_wraparound_are_exact():
    dec = HostDecoder()
    start = 2**32 - 20
    ev = dec.feed(
        _data(1, start, 10, 65534)
        + _data(1, start + 10, 10, 65535)  # index reaches 2^32 exactly
        + _data(1, 0, 10, 0)  # wrapped: no loss
        + _data(1, 25, 10, 2)  # 15 samples and one frame missing
    )
    assert [e.lost_before for e in ev] == [0, 0, 0, 15]
    assert dec.stats.streams[1].samples_lost == 15 and dec.stats.frames_lost == 1
    assert not any(e.discontinuity for e in ev)


def test_index_going_backwards_is_a_discontinuity_not_a_loss():
    dec = HostDecoder()
    ev = dec.feed(_data(0, 1000, 10, 0) + _data(0, 0, 10, 1) + _data(0, 10, 10, 2))
    assert [e.lost_before for e in ev] == [0, 0, 0]
    assert [e.discontinuity for e in ev] == [False, True, False]
    assert dec.stats.streams[0].discontinuities == 1


def test_unknown_types_other_versions_and_malformed_payloads_are_counted():
    future_type = encode_frame(0x7E, 1, 0, b"new")
    v2 = bytearray(_data(0, 0, 1, 2))
    v2[2] = 2  # a version this receiver does not implement (the CRC would match)
    bad_len = encode_frame(2, 3, 0, _data(0, 0, 2, 0)[12:-3])  # DATA one byte short
    good = _data(0, 0, 1, 4)
    dec = HostDecoder()
    ev = dec.feed(future_type + bytes(v2) + bad_len + good)
    assert len(ev) == 1 and ev[0].frame.seq == 4
    st_ = dec.stats
    assert st_.unknown_type_frames == 1 and st_.malformed_frames == 1
    assert st_.framing.header_errors == 1 and st_.frames_lost == 1  # seq 2 never arrived
    assert st_.as_dict()["frames_ok"] == 3


def test_false_long_header_neither_delays_nor_loses_frames():
    frames = [_data(0, 10 * k, 10, k) for k in range(5)]
    false = b"\xa5\x5a\x01\x02\x00\x08"  # claims 2048 bytes
    dec = HostDecoder()
    ev = dec.feed(false + b"".join(frames))
    # Before: nothing until 2062 bytes had arrived (and never, at the end of a stream).
    assert [e.frame.seq for e in ev] == [0, 1, 2, 3, 4]
    assert dec.stats.framing.overtaken == 1 and dec.stats.samples_lost == 0
    assert dec.flush() == [] and dec.framer.buffered == 0


def test_max_payload_is_validated_and_applied():
    with pytest.raises(ValueError, match="max_payload"):
        FrameDecoder(max_payload=4096)
    small = FrameDecoder(max_payload=16)
    assert small.feed(_data(0, 0, 10, 0)) == []  # 32-byte payload: rejected at the header
    assert small.stats.header_errors == 1
    assert len(small.feed(encode_decision(Decision(0, 0, False, False), 1))) == 1


def _data_frame(sid: int, idx: int, n: int, seq: int, value: int = 0) -> bytes:
    raw = np.full((n, 1), value, int)
    return encode_data(DataBlock(sid, SampleFormat.INT16, idx, 0, raw), seq, 0)


def test_duplicated_frame_is_one_duplicate_not_65535_lost_frames():
    dec = HostDecoder()
    ev = dec.feed(_data(0, 0, 10, 0) + _data(0, 10, 10, 1) * 2 + _data(0, 20, 10, 2))
    assert [e.frame.seq for e in ev] == [0, 1, 2]  # the copy is not delivered again
    st_ = dec.stats
    assert st_.duplicate_frames == 1 and st_.frames_lost == 0 and st_.samples_lost == 0
    assert not any(e.discontinuity for e in ev) and st_.streams[0].discontinuities == 0


def test_frame_one_late_is_counted_and_not_delivered_behind_its_successor():
    """seq 1 arrives after seq 2: the stream has moved past its samples, so it is not
    delivered (they stay counted lost, once); no discontinuity, no double loss."""
    dec = HostDecoder()
    ev = dec.feed(
        _data(0, 0, 10, 0) + _data(0, 20, 10, 2) + _data(0, 10, 10, 1) + _data(0, 30, 10, 3)
    )
    assert [(e.frame.seq, e.lost_before, e.discontinuity) for e in ev] == [
        (0, 0, False),
        (2, 10, False),
        (3, 0, False),
    ]
    st_ = dec.stats
    assert st_.frames_lost == 0 and st_.reordered_frames == 1
    assert st_.streams[0].late_frames == 1 and st_.samples_lost == 10
    assert st_.streams[0].discontinuities == 0


def test_late_frame_of_another_stream_is_delivered_in_its_own_order():
    dec = HostDecoder()
    ev = dec.feed(
        _data(0, 0, 10, 0)
        + _data(1, 0, 5, 1)
        + _data(0, 10, 10, 3)
        + _data(1, 5, 5, 2)  # late by seq, in order for stream 1
        + _data(0, 20, 10, 4)
    )
    assert [e.frame.seq for e in ev] == [0, 1, 3, 2, 4]
    assert dec.stats.frames_lost == 0 and dec.stats.reordered_frames == 1
    assert dec.stats.samples_lost == 0


def test_sender_restart_is_a_reset_not_a_loss():
    dec = HostDecoder()
    before = b"".join(_data_frame(0, 10 * k, 10, k) for k in range(10))
    after = b"".join(_data_frame(0, 10 * k, 10, k, value=1) for k in range(3))  # same seqs
    ev = dec.feed(before + after)
    assert len(ev) == 13 and ev[10].discontinuity and ev[10].jump == -100
    st_ = dec.stats
    assert st_.seq_resets == 1 and st_.frames_lost == 0 and st_.duplicate_frames == 0
    assert st_.samples_lost == 0


INFO_250 = DeviceInfo((StreamSpec(0, 250.0, SampleFormat.INT16, (ChannelSpec("EEG"),)),))


def test_index_jump_beyond_what_the_device_could_sample_is_a_resync():
    dec = HostDecoder()
    dec.feed(encode_info(INFO_250, 0, 0) + _data(0, 0, 10, 1), now=100.0)
    # One valid frame jumps 2^31 - 1 samples (99 days at 250 Hz) 0.1 s later.
    (ev,) = dec.feed(_data(0, 10 + 2**31 - 1, 10, 2), now=100.1)
    assert ev.discontinuity and ev.lost_before == 0 and ev.jump == 2**31 - 1
    assert dec.stats.samples_lost == 0 and dec.stats.streams[0].discontinuities == 1
    # A gap the device could have sampled (60 s of samples after 62 s) is a loss.
    nxt = (20 + 2**31 - 1) & 0xFFFFFFFF
    (ev,) = dec.feed(_data(0, nxt + 250 * 60, 10, 3), now=162.1)
    assert not ev.discontinuity and ev.lost_before == 250 * 60
    # Frames that arrive together (a backlog): up to GAP_SLACK_S (5 s) is still a loss.
    (ev,) = dec.feed(_data(0, nxt + 250 * 60 + 10 + 1000, 10, 4), now=162.1)
    assert ev.lost_before == 1000 and not ev.discontinuity


def test_without_a_host_clock_index_gaps_count_as_loss():
    dec = HostDecoder()
    ev = dec.feed(encode_info(INFO_250, 0, 0) + _data(0, 0, 10, 1) + _data(0, 10 + 5000, 10, 2))
    assert ev[-1].lost_before == 5000 and not ev[-1].discontinuity


def test_invalid_info_is_an_event_naming_the_field_and_is_not_adopted():
    payload = bytearray(encode_info(INFO_250, 0, 0)[12:-2])
    payload[32 + 12 : 32 + 16] = np.array([np.nan], "<f4").tobytes()  # channel 0 scale
    dec = HostDecoder()
    ev = dec.feed(encode_frame(1, 0, 0, bytes(payload)) + encode_info(INFO_250, 1, 0))
    assert isinstance(ev[0], InvalidInfoEvent) and "scale nan" in ev[0].error
    assert isinstance(ev[1], InfoEvent) and dec.info == INFO_250
    assert dec.stats.invalid_info_frames == 1 and dec.stats.info_frames == 1
    assert "scale nan" in dec.stats.last_error
