"""Framing (PROTOCOL.md §5): the decoder against a direct, quadratic statement of the rule
("deliver the CRC-valid frame that ends first"), on adversarial streams cut every way;
false long headers no longer hold good frames back; the vectorised CRC path."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.firmware_bridge.codec import encode_data, encode_decision, encode_frame
from edge_emotion.firmware_bridge.framing import FrameDecoder, _span_crcs
from edge_emotion.firmware_bridge.protocol import (
    MAX_FRAME,
    SYNC,
    DataBlock,
    Decision,
    SampleFormat,
    crc16,
)


def reference(data: bytes, max_payload: int = 2048) -> tuple[list[tuple[int, int]], dict]:
    """The rule as written in PROTOCOL.md §5, for the whole stream at once, then the end
    of stream: frames as (start, end), and every rejected sync word counted once."""

    def candidate(j: int) -> int | None:
        """End of the frame a sync word at j claims, or None for a bad header."""
        if data[j + 2] != 1 or (data[j + 4] | data[j + 5] << 8) > max_payload:
            return None
        return j + 14 + (data[j + 4] | data[j + 5] << 8)

    def valid(j: int, e: int) -> bool:
        return e <= len(data) and crc16(data[j + 2 : e - 2]) == int.from_bytes(
            data[e - 2 : e], "little"
        )

    frames, n = [], {"header_errors": 0, "crc_errors": 0, "overtaken": 0, "truncated": 0}
    pos = 0
    while True:
        syncs = [j for j in range(pos, len(data) - 1) if data[j : j + 2] == SYNC]
        ends = {j: candidate(j) if j + 12 <= len(data) else -1 for j in syncs}
        good = [(e, j) for j, e in ends.items() if e is not None and e > 0 and valid(j, e)]
        if not good:
            for e in ends.values():
                if e is None:
                    n["header_errors"] += 1
                elif e == -1 or e > len(data):
                    n["truncated"] += 1
                else:
                    n["crc_errors"] += 1
            return frames, n
        ez, z = min(good)
        for j in syncs:
            if j >= z:
                break
            e = ends[j]
            key = "header_errors" if e is None else "overtaken" if e > ez else "crc_errors"
            n[key] += 1
        frames.append((z, ez))
        pos = ez


def decode(data: bytes, cuts, max_payload: int = 2048) -> tuple[list[bytes], dict, FrameDecoder]:
    dec = FrameDecoder(max_payload)
    frames, pos = [], 0
    for size in cuts:
        frames += dec.feed(data[pos : pos + size])
        pos += size
        s = dec.stats
        assert s.bytes_received == s.bytes_skipped + s.bytes_in_frames + dec.buffered
        assert dec.buffered <= MAX_FRAME + size
    frames += dec.feed(data[pos:])
    frames += dec.flush()
    s = dec.stats
    assert s.bytes_received == s.bytes_skipped + s.bytes_in_frames == len(data)
    counts = {k: getattr(s, k) for k in ("header_errors", "crc_errors", "overtaken", "truncated")}
    return [f.payload for f in frames], counts, dec


def _frame(rng: np.random.Generator, seq: int) -> bytes:
    n = int(rng.integers(1, 40))
    raw = rng.integers(-(2**23), 2**23, (n, int(rng.integers(1, 9))))
    return encode_data(DataBlock(0, SampleFormat.INT24, seq, 0, raw), seq, seq)


def adversarial_stream(rng: np.random.Generator, n_parts: int = 40) -> bytes:
    parts = []
    for seq in range(n_parts):
        f = bytearray(_frame(rng, seq))
        op = rng.integers(0, 10)
        if op == 0:  # bit flips
            for _ in range(int(rng.integers(1, 4))):
                f[int(rng.integers(0, len(f)))] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # truncated
            f = f[: int(rng.integers(1, len(f)))]
        elif op == 2:  # a false header claiming some length
            parts.append(SYNC + bytes([1, 2]) + int(rng.integers(0, 2049)).to_bytes(2, "little"))
        elif op == 3:  # a valid frame inside another valid frame's payload
            f = bytearray(encode_frame(0x7E, seq, 0, bytes(5) + bytes(f) + bytes(5)))
        elif op == 4:  # a flood of false long headers (the bulk path)
            fake = SYNC + bytes([1, 2]) + int(rng.integers(1000, 2049)).to_bytes(2, "little")
            parts.append((fake + bytes(6)) * int(rng.integers(100, 400)))
        elif op == 5:
            parts.append(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes())
        elif op == 6:  # a header with a length this receiver does not accept
            parts.append(SYNC + bytes([1, 2, 0xFF, 0x7F]))
        parts.append(bytes(f))
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(12))
def test_decoder_follows_the_rule_however_the_stream_is_cut(seed):
    rng = np.random.default_rng(seed)
    data = adversarial_stream(rng)
    want_spans, want_counts = reference(data)
    want = [data[a + 12 : b - 2] for a, b in want_spans]
    assert len(want) >= 20
    for cuts in (
        [],
        rng.integers(1, 5000, 50).tolist(),
        rng.integers(1, 64, 3000).tolist(),
    ):
        got, counts, _ = decode(data, cuts)
        assert got == want
        assert counts == want_counts


def test_byte_by_byte_matches_the_rule_on_a_flood_with_frames_inside():
    rng = np.random.default_rng(99)
    data = adversarial_stream(rng, 12)
    spans, counts = reference(data)
    got, got_counts, _ = decode(data, [1] * len(data))
    assert got == [data[a + 12 : b - 2] for a, b in spans] and got_counts == counts


def test_small_receivers_follow_the_rule_too():
    rng = np.random.default_rng(5)
    parts = []
    for k in range(200):
        d = encode_decision(Decision(0.1, 0.9, False, True), k, k)
        parts.append(d[: int(rng.integers(3, len(d)))] if k % 7 == 3 else d)
        if k % 11 == 0:
            parts.append(SYNC + bytes([1, 3, 16, 0]))  # claims 16: allowed, false
    data = b"".join(parts)
    spans, counts = reference(data, max_payload=16)
    got, got_counts, _ = decode(data, rng.integers(1, 50, 400).tolist(), max_payload=16)
    assert got == [data[a + 12 : b - 2] for a, b in spans] and got_counts == counts


def test_false_long_header_does_not_hold_back_the_frames_after_it():
    frames = [encode_data(DataBlock(0, SampleFormat.INT16, 10 * k, 0, np.zeros((10, 1), int)), k, 0)
              for k in range(10)]  # fmt: skip
    false = SYNC + b"\x01\x02\x00\x08"  # claims 2048 bytes
    dec = FrameDecoder()
    got = dec.feed(false + b"".join(frames))
    # Before, nothing came out until 2062 bytes had arrived; at the end of a stream the
    # ten frames were never delivered.
    assert [f.seq for f in got] == list(range(10))
    assert dec.stats.overtaken == 1 and dec.stats.crc_errors == 0 and dec.buffered == 0
    assert dec.flush() == [] and dec.stats.bytes_skipped == len(false)


def test_frame_split_across_calls_waits_and_end_of_stream_counts_the_tail():
    f = encode_decision(Decision(0.5, 0.5, True, True), 7)
    dec = FrameDecoder()
    assert dec.feed(f[:10]) == [] and dec.buffered == 10
    assert [x.seq for x in dec.feed(f[10:] + f[:20])] == [7]
    assert dec.flush() == []
    assert dec.stats.truncated == 1 and dec.stats.bytes_skipped == 20 and dec.buffered == 0


def test_flood_of_false_long_headers_is_bounded_and_counted_exactly():
    fake = SYNC + b"\x01\x7e\x00\x08" + bytes(6)  # unknown type, 2048 bytes: no shortcut
    data = fake * 20_000
    tail = encode_decision(Decision(0.2, 0.4, False, False), 1)
    dec = FrameDecoder()
    for k in range(0, len(data), 65_536):
        assert dec.feed(data[k : k + 65_536]) == []
        assert dec.buffered < MAX_FRAME
    got = dec.feed(tail)
    assert [f.seq for f in got] == [1]  # delivered at once: the pending fakes are overtaken
    s = dec.stats
    # Every false header is counted once: failed CRC once complete, or overtaken.
    assert s.crc_errors + s.overtaken == 20_000 and s.crc_errors > 19_000


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_span_crcs_equal_direct_crcs(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, int(rng.integers(14, 9000)), dtype=np.uint8).tobytes()
    a = rng.integers(0, len(data) - 1, 500)
    b = np.minimum(a + rng.integers(0, MAX_FRAME, 500), len(data))
    got = _span_crcs(data, a, b)
    assert got.tolist() == [crc16(data[x:y]) for x, y in zip(a.tolist(), b.tolist(), strict=True)]


def test_stream_ending_inside_a_flood_counts_like_the_rule():
    """The flood's tail mixes pending long claims with short false headers that are
    complete: the end of stream must count each as the rule does (the bulk path left
    them undecided)."""
    rng = np.random.default_rng(7)
    long_, short = SYNC + b"\x01\x02\x00\x08" + bytes(6), SYNC + b"\x01\x02\x0a\x00" + bytes(6)
    flood = b"".join(long_ if rng.random() < 0.7 else short for _ in range(12_000))
    data = _frame(rng, 1) + flood
    spans, counts = reference(data)
    assert counts["truncated"] > 100 and counts["crc_errors"] > 10_000
    for piece in (65_536, 4096):
        got, got_counts, _ = decode(data, [piece] * (len(data) // piece))
        assert got == [data[a + 12 : b - 2] for a, b in spans] and got_counts == counts
