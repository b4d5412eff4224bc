"""Fuzz the firmware-bridge host decoder with a seeded, reproducible stream.

A simulated device (EEG int24 x 8 and ECG int16 x 1, both 250 Hz) sends DATA frames,
INFO every 500 frames and now and then frames of an unknown type; on the way each frame
may be bit-flipped, truncated, dropped, duplicated, swapped with the next one, preceded
by a false long header, random garbage or a flood of false headers, carried inside
another frame, or have its sample_index jump; some INFO frames carry a NaN or infinite
scale or rate. The bytes reach the decoder in pieces of random size, with a host clock.

Checks: the decoder never raises; every frame that arrived intact is delivered in order
unless a frame that is not in the stream (a corruption that passed the CRC by chance)
overlaps it; memory stays bounded (tracemalloc peak); duplicates, late frames, invalid
INFO and index-jump resyncs are counted exactly. Prints the counts and the decode rate
(time inside the decoder only).

    python scripts/fuzz_bridge.py --frames 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import struct
import sys
import time
import tracemalloc
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge_emotion.firmware_bridge.codec import encode_frame, encode_info_payload
from edge_emotion.firmware_bridge.decoder import DataEvent, HostDecoder, InfoEvent, InvalidInfoEvent
from edge_emotion.firmware_bridge.protocol import (
    MAX_FRAME,
    SYNC,
    ChannelSpec,
    DeviceInfo,
    Frame,
    FrameType,
    SampleFormat,
    StreamSpec,
)

RATE = 250.0
INFO = DeviceInfo(
    (
        StreamSpec(0, RATE, SampleFormat.INT24, tuple(ChannelSpec(f"E{i}") for i in range(8))),
        StreamSpec(1, RATE, SampleFormat.INT16, (ChannelSpec("ECG", "ecg"),)),
    ),
    device_id=7,
    name="fuzz",
)
INFO_PAYLOAD = encode_info_payload(INFO)
_STREAM = {0: (SampleFormat.INT24, 8, 3), 1: (SampleFormat.INT16, 1, 2)}
_HDR = struct.Struct("<BBHHI")  # version, type, length, seq, timestamp_us
_DATA = struct.Struct("<BBBBII")
MEMORY_LIMIT = 64 << 20  # bytes; the stream itself is hundreds of MB
MAX_PIECE = 8192
BATCH = 4096  # frames generated, then fed, at a time

# Probability of each way a frame is sent (the rest are sent intact).
OPS = {
    "flip": 0.04,
    "truncate": 0.03,
    "drop": 0.02,
    "duplicate": 0.03,
    "swap": 0.02,
    "false_header": 0.03,
    "garbage": 0.03,
    "flood": 0.001,
    "nested": 0.002,
    "jump": 0.002,
    "bad_info": 0.002,
    "unknown_type": 0.005,
}


def frame_bytes(ftype: int, seq: int, ts: int, payload: bytes) -> bytes:
    body = _HDR.pack(1, ftype, len(payload), seq & 0xFFFF, ts & 0xFFFFFFFF) + payload
    return SYNC + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "little")


def key(ftype: int, seq: int, ts: int, crc: int, length: int) -> tuple[int, ...]:
    return (ftype, seq & 0xFFFF, ts & 0xFFFFFFFF, crc, length)


def frame_key(f: Frame) -> tuple[int, ...]:
    return key(f.type, f.seq, f.timestamp_us, f.crc, len(f.payload))


def bad_info_payload(rng: np.random.Generator) -> bytes:
    p = bytearray(INFO_PAYLOAD)
    value = float(rng.choice([np.nan, np.inf, -np.inf]))
    scale = 24 + 8 + 16 * int(rng.integers(0, 8)) + 12  # a channel scale of stream 0
    off = scale if rng.random() < 0.5 else 24 + 4  # or stream 0's sampling rate
    p[off : off + 4] = struct.pack("<f", value)
    return bytes(p)


@dataclass
class Truth:
    """What the device did."""

    frames_in: int = 0  # frames put on the wire (corrupted ones, copies, wrappers too)
    intact: int = 0
    ops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPS, 0))


# Tags of intact frames whose effect the host decoder must count once delivered:
# (kind, key of the frame it depends on). Kept with each expected frame, not in a set
# that would grow with the run.
DUP, LATE, BAD_INFO, JUMP = "duplicate", "late", "bad_info", "jump"


class Device:
    """The simulated device: emits (bytes, expected frames) batches."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seq = 0
        self.t_us = 0
        self.index = {0: 0, 1: 0}
        self.truth = Truth()
        self.pool = {
            sid: [
                self.rng.integers(0, 256, n * ch * size, dtype=np.uint8).tobytes()
                for n in (5, 10, 20)
                for _ in range(16)
            ]
            for sid, (_, ch, size) in _STREAM.items()
        }
        self.ops = list(OPS)
        self.p = np.array([OPS[o] for o in self.ops])

    def _next(self, ftype: int, payload: bytes) -> tuple[bytes, tuple[int, ...]]:
        seq, ts = self.seq, self.t_us
        self.seq = (seq + 1) & 0xFFFF
        b = frame_bytes(ftype, seq, ts, payload)
        return b, key(ftype, seq, ts, int.from_bytes(b[-2:], "little"), len(payload))

    def _data(self, jump: int = 0) -> tuple[bytes, tuple[int, ...]]:
        sid = 0 if self.rng.random() < 0.6 else 1
        fmt, ch, size = _STREAM[sid]
        samples = self.pool[sid][int(self.rng.integers(0, len(self.pool[sid])))]
        n = len(samples) // (ch * size)
        self.index[sid] = (self.index[sid] + jump) & 0xFFFFFFFF
        payload = _DATA.pack(sid, int(fmt), ch, n, self.index[sid], 0) + samples
        self.index[sid] = (self.index[sid] + n) & 0xFFFFFFFF
        out = self._next(FrameType.DATA, payload)
        self.t_us += round(n / RATE * 1e6 / 2)  # two streams share the clock's advance
        return out

    def batch(self, n_frames: int) -> tuple[bytes, list, list]:
        """Bytes of n_frames frames and what goes with them: the expected intact frames
        as (key, start, end, tag); (end offset, device seconds) for the host clock."""
        rng, truth = self.rng, self.truth
        parts: list[bytes] = []
        expected: list[tuple] = []
        clock: list[tuple[int, float]] = []
        pos = 0

        def put(b: bytes, k: tuple[int, ...] | None, tag=None, frame: bool = True) -> None:
            nonlocal pos
            if k is not None:
                expected.append((k, pos, pos + len(b), tag))
                truth.intact += 1
            parts.append(b)
            pos += len(b)
            truth.frames_in += frame
            clock.append((pos, self.t_us * 1e-6))

        cum = np.cumsum(self.p)
        ops = np.searchsorted(cum, rng.random(n_frames), side="right")  # past the end: intact
        for k_op in ops.tolist():
            if self.seq % 500 == 0:
                put(*self._next(FrameType.INFO, INFO_PAYLOAD))
            op = self.ops[k_op] if k_op < len(self.ops) else "intact"
            if op == "jump" and truth.frames_in < 100:
                op = "intact"  # both streams must have a previous frame to jump from
            if op != "intact":
                truth.ops[op] += 1
            if op == "bad_info":
                b, k = self._next(FrameType.INFO, bad_info_payload(rng))
                put(b, k, (BAD_INFO, None))
                continue
            if op == "unknown_type":
                put(*self._next(0x7E, rng.bytes(int(rng.integers(0, 64)))))
                continue
            if op == "jump":
                b, k = self._data(jump=int(rng.integers(2**20, 2**31)))
                put(b, k, (JUMP, None))
                continue
            b, k = self._data()
            if op == "intact":
                put(b, k)
            elif op == "flip":
                buf = bytearray(b)
                for bit in rng.choice(len(buf) * 8, int(rng.integers(1, 4)), replace=False):
                    buf[bit // 8] ^= 1 << (bit % 8)
                put(bytes(buf), None)
            elif op == "truncate":
                put(b[: int(rng.integers(1, len(b)))], None)
            elif op == "drop":
                truth.frames_in += 1
            elif op == "duplicate":
                put(b, k)
                put(b, k, (DUP, k))
            elif op == "swap":
                b2, k2 = self._data()
                put(b2, k2)
                put(b, k, (LATE, k2))  # one late: its seq was skipped by b2's
            elif op == "false_header":
                length = int(rng.integers(1, 2049)).to_bytes(2, "little")
                put(SYNC + bytes([1, int(rng.integers(1, 5))]) + length, None, frame=False)
                put(b, k)
            elif op == "garbage":
                put(rng.bytes(int(rng.integers(1, 200))), None, frame=False)
                put(b, k)
            elif op == "flood":
                # False headers claiming ~2 KiB every 12 bytes, random in between (so that
                # a CRC coincidence in one is not repeated in all).
                n = int(rng.integers(50, 300))
                flood = np.frombuffer(rng.bytes(12 * n), dtype=np.uint8).reshape(n, 12).copy()
                head = SYNC + bytes([1, 0x7E]) + int(rng.integers(1000, 2049)).to_bytes(2, "little")
                flood[:, :6] = np.frombuffer(head, dtype=np.uint8)
                put(flood.tobytes(), None, frame=False)
                put(b, k)
            elif op == "nested":
                # The inner frame ends first: it is delivered, the wrapper is overtaken.
                wrapper = encode_frame(0x7D, self.seq, 0, bytes(3) + b + bytes(3))
                self.seq = (self.seq + 1) & 0xFFFF
                expected.append((k, pos + 15, pos + 15 + len(b), None))
                truth.intact += 1
                truth.frames_in += 1
                put(wrapper, None)
        return b"".join(parts), expected, clock


class Checker:
    """Matches delivered frames to the intact ones, in order; a frame delivered but never
    sent is a CRC coincidence ('false frame'): intact frames it overlaps may be lost."""

    LOOKAHEAD = 400

    def __init__(self) -> None:
        self.expected: deque = deque()
        self.window = b""  # the last two batches, for locating false frames
        self.window_at = 0
        self.false_spans: list[tuple[int, int]] = []
        self.missing: list[tuple] = []
        self.shadowed = 0
        self.delivered = 0
        self.last_key: tuple[int, ...] | None = None
        # Delivered tagged frames whose effect the decoder must count.
        self.expect = {DUP: 0, LATE: 0, BAD_INFO: 0, JUMP: 0}
        self.jumps: set = set()  # keys of delivered jump frames, until their event is seen

    def add_batch(self, data: bytes, expected: list, at: int) -> None:
        keep = self.window[-(2 * MAX_FRAME) :] if self.window else b""
        self.window_at = at - len(keep)
        self.window = keep + data
        self.expected.extend((k, at + a, at + b, tag) for k, a, b, tag in expected)

    def frame(self, f: Frame, fed_to: int) -> None:
        """``fed_to``: stream offset of the end of the bytes fed so far."""
        k = frame_key(f)
        exp = self.expected
        i = 0 if exp and exp[0][0] == k else -1
        if i < 0:
            i = next((j for j in range(1, min(self.LOOKAHEAD, len(exp))) if exp[j][0] == k), -1)
        if i >= 0:
            for _ in range(i):
                self.missing.append(exp.popleft())
            _, _, _, tag = exp.popleft()
            if tag is not None:
                kind, other = tag
                # A copy is a duplicate, and a late frame late, only if the frame before it
                # arrived; an INFO or index jump counts in any case.
                if other is None or other == self.last_key:
                    self.expect[kind] += 1
                    if kind == JUMP:
                        self.jumps.add(k)
            self.last_key = k
            self.delivered += 1
            return
        # Not a frame that was sent: bytes of a corruption that passed the CRC.
        raw = encode_frame(f.type, f.seq, f.timestamp_us, f.payload) if f.version == 1 else b""
        j = self.window.rfind(raw, 0, fed_to - self.window_at) if raw else -1
        if j < 0:
            raise AssertionError(f"delivered a frame that is not in the stream: {f}")
        self.false_spans.append((self.window_at + j, self.window_at + j + len(raw)))
        self.last_key = k

    def unexplained(self) -> list:
        """Missing intact frames that no false frame overlaps (yet: one found later may)."""
        spans = self.false_spans
        still = [m for m in self.missing if not any(s < m[2] and m[1] < e for s, e in spans)]
        self.shadowed += len(self.missing) - len(still)
        self.missing = still
        return still


def run(n_frames: int, seed: int, verbose: bool = True, measure_rate: bool = True) -> dict:
    """Send ``n_frames`` frames (as the device puts them on the wire) through a
    :class:`HostDecoder`; raise AssertionError if any check fails."""
    tracemalloc.start()
    device = Device(seed)
    dec = HostDecoder()
    check = Checker()
    rng = np.random.default_rng(seed + 1_000_003)
    events = {"data": 0, "info": 0, "invalid_info": 0, "other": 0}
    jump_resyncs = 0
    decode_s = 0.0
    fed = 0
    max_buffered = 0
    while device.truth.frames_in < n_frames:
        data, expected, clock = device.batch(min(BATCH, n_frames - device.truth.frames_in))
        check.add_batch(data, expected, fed)
        ends = [c[0] for c in clock]
        for piece, pos in pieces(data, rng):
            now = clock[min(bisect.bisect_right(ends, pos), len(clock) - 1)][1]
            t0 = time.perf_counter()
            frames = dec.framer.feed(piece)
            evs = dec.interpret(frames, now)
            decode_s += time.perf_counter() - t0
            max_buffered = max(max_buffered, dec.framer.buffered)
            assert dec.framer.buffered <= MAX_FRAME + len(piece), dec.framer.buffered
            for f in frames:
                check.frame(f, fed + pos)
            for e in evs:
                if isinstance(e, DataEvent):
                    events["data"] += 1
                    if check.jumps:
                        k = frame_key(e.frame)
                        if k in check.jumps:
                            check.jumps.discard(k)
                            jump_resyncs += e.discontinuity
                elif isinstance(e, InfoEvent):
                    events["info"] += 1
                elif isinstance(e, InvalidInfoEvent):
                    events["invalid_info"] += 1
                else:
                    events["other"] += 1
        fed += len(data)
        check.unexplained()
    t0 = time.perf_counter()
    tail = dec.flush()
    decode_s += time.perf_counter() - t0
    assert tail == [], tail
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    truth = device.truth
    st = dec.stats
    fr = st.framing
    lost = check.unexplained() + list(check.expected)  # all fed: none may remain
    result = {
        "frames_in": truth.frames_in,
        "intact": truth.intact,
        "delivered_intact": check.delivered,
        "missing_intact_shadowed": check.shadowed,
        "missing_intact_unexplained": len(lost),
        "false_frames": len(check.false_spans),
        "bytes": fr.bytes_received,
        "ops": truth.ops,
        "framing": {
            "frames_ok": fr.frames_ok,
            "crc_errors": fr.crc_errors,
            "header_errors": fr.header_errors,
            "overtaken": fr.overtaken,
            "truncated": fr.truncated,
            "bytes_skipped": fr.bytes_skipped,
        },
        "host": {
            "duplicate_frames": st.duplicate_frames,
            "reordered_frames": st.reordered_frames,
            "late_frames": sum(s.late_frames for s in st.streams.values()),
            "frames_lost": st.frames_lost,
            "seq_resets": st.seq_resets,
            "malformed_frames": st.malformed_frames,
            "invalid_info_frames": st.invalid_info_frames,
            "unknown_type_frames": st.unknown_type_frames,
            "resyncs": sum(s.discontinuities for s in st.streams.values()),
            "samples_lost": st.samples_lost,
        },
        "events": events,
        "expected": {
            "duplicates": check.expect[DUP],
            "reordered": check.expect[LATE],
            "invalid_info": check.expect[BAD_INFO],
            "jump_resyncs": check.expect[JUMP],
        },
        "jump_resyncs_seen": jump_resyncs,
        "decode_s_traced": decode_s,
        "tracemalloc_peak": peak,
        "max_buffered": max_buffered,
    }
    result["rate_frames"] = min(n_frames, 200_000) if measure_rate else 0
    if measure_rate:
        result["frames_per_s"], result["mb_per_s"] = decode_rate(result["rate_frames"], seed)
    if verbose:
        report(result)
    failures = check_result(result)
    if failures:
        raise AssertionError("; ".join(failures))
    return result


def pieces(data: bytes, rng: np.random.Generator):
    """``data`` cut at random, sizes log-uniform in 1..MAX_PIECE: (piece, end offset)."""
    pos = 0
    while pos < len(data):
        piece = data[pos : pos + int(np.exp(rng.uniform(0, np.log(MAX_PIECE))))]
        pos += len(piece)
        yield piece, pos


def decode_rate(n_frames: int, seed: int) -> tuple[float, float]:
    """Frames/s and MB/s of HostDecoder on the first ``n_frames`` of the same stream,
    timed alone (tracemalloc, which the checked run needs, slows allocation ~4x)."""
    device, dec = Device(seed), HostDecoder()
    rng = np.random.default_rng(seed + 1_000_003)
    spent = 0.0
    while device.truth.frames_in < n_frames:
        data, _, clock = device.batch(min(BATCH, n_frames - device.truth.frames_in))
        now = clock[-1][1]
        for piece, _ in pieces(data, rng):
            t0 = time.perf_counter()
            dec.feed(piece, now)
            spent += time.perf_counter() - t0
    st = dec.stats.framing
    return st.frames_ok / spent, st.bytes_received / spent / 1e6


def check_result(r: dict) -> list[str]:
    """Everything the run must satisfy, as messages for what did not hold."""
    out = []
    if r["missing_intact_unexplained"]:
        out.append(f"{r['missing_intact_unexplained']} intact frames were not delivered")
    if r["tracemalloc_peak"] > MEMORY_LIMIT:
        out.append(f"tracemalloc peak {r['tracemalloc_peak']} B > {MEMORY_LIMIT} B")
    exact = r["false_frames"] == 0  # a CRC coincidence may disturb sequence accounting
    e, h = r["expected"], r["host"]
    for name, got, want in (
        ("duplicate_frames", h["duplicate_frames"], e["duplicates"]),
        ("reordered_frames", h["reordered_frames"], e["reordered"]),
        ("invalid_info_frames", h["invalid_info_frames"], e["invalid_info"]),
        ("index-jump resyncs", r["jump_resyncs_seen"], e["jump_resyncs"]),
    ):
        if got != want and (exact or got < want):
            out.append(f"{name}: decoder counted {got}, expected {want}")
    if exact and h["seq_resets"]:
        out.append(f"seq_resets: {h['seq_resets']} without any restart")
    return out


def report(r: dict) -> None:
    f, h = r["framing"], r["host"]
    print(f"frames in            {r['frames_in']:>12,}   ({r['bytes'] / 1e6:,.1f} MB)")
    print(f"  sent intact        {r['intact']:>12,}")
    print(f"  delivered intact   {r['delivered_intact']:>12,}")
    print(f"  intact, shadowed   {r['missing_intact_shadowed']:>12,}   (by a false frame)")
    print(f"  false frames       {r['false_frames']:>12,}   (corruptions passing the CRC)")
    print("corruptions injected " + ", ".join(f"{k} {v:,}" for k, v in r["ops"].items()))
    print(
        f"dropped at framing   crc {f['crc_errors']:,}, header {f['header_errors']:,}, "
        f"overtaken {f['overtaken']:,}, truncated {f['truncated']:,}; "
        f"skipped {f['bytes_skipped'] / 1e6:,.1f} MB"
    )
    print(
        f"dropped by host      duplicates {h['duplicate_frames']:,}, late {h['late_frames']:,}, "
        f"invalid INFO {h['invalid_info_frames']:,}, malformed {h['malformed_frames']:,}, "
        f"unknown type {h['unknown_type_frames']:,}"
    )
    print(
        f"accounting           frames lost {h['frames_lost']:,}, reordered "
        f"{h['reordered_frames']:,}, seq resets {h['seq_resets']:,}, resyncs {h['resyncs']:,} "
        f"(index jumps {r['jump_resyncs_seen']:,}), samples lost {h['samples_lost']:,}"
    )
    if r["rate_frames"]:
        print(
            f"decode               {r['frames_per_s']:,.0f} frames/s, {r['mb_per_s']:,.1f} MB/s "
            f"(HostDecoder alone, first {r['rate_frames']:,} frames again without "
            f"tracemalloc; {r['decode_s_traced']:.1f} s in it during the checked run)"
        )
    print(
        f"memory               tracemalloc peak {r['tracemalloc_peak'] / 2**20:.1f} MiB "
        f"(whole script), decoder buffer max {r['max_buffered']:,} B"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=1_000_000, help="frames to send (1000000)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.frames < 1:
        p.error("--frames: expected at least 1")
    try:
        run(a.frames, a.seed)
    except AssertionError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
