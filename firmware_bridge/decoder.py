"""Incremental receiver for the firmware bridge protocol (PROTOCOL.md §5).

:class:`FrameDecoder` finds CRC-valid frames in a byte stream that arrives in arbitrary
pieces and resynchronises after damage; :class:`HostDecoder` interprets the payloads and
accounts for what was lost (frames from ``seq`` gaps, samples from ``sample_index``
gaps). Neither ever raises on input bytes: every problem becomes a counter.
"""

from __future__ import annotations

import binascii
import re
from collections import deque
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np

from edge_emotion.firmware_bridge.protocol import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    SYNC,
    VERSION,
    DataBlock,
    Decision,
    DeviceInfo,
    Frame,
    FrameType,
    ProtocolError,
    crc16,
    parse_data_payload,
    parse_decision_payload,
    parse_info_payload,
)

_SYNC0 = SYNC[0]
_find_sync = re.compile(re.escape(SYNC)).search
# Compact the buffer only once this many consumed bytes sit in front of it: deleting
# the front of a bytearray copies the rest, so do it rarely.
_COMPACT_AT = 1 << 16
# States of a candidate (a sync word with a plausible header) not yet decided.
_HDR_BAD, _CRC_BAD, _PENDING = 0, 1, 2
_MIN_FRAME = HEADER_SIZE + CRC_SIZE
# The slow path hands over to _bulk_skip after this many CRC failures in a row, when at
# least _BULK_MIN_BYTES are still unexamined: a flood of false headers, not a damaged frame.
_BULK_AFTER = 8
_BULK_MIN_BYTES = 1024
_BULK: list[int] = []  # returned by _next_frame: "call _bulk_skip"
_STEP = 16  # prefix CRC registers: one C call per _STEP bytes, then vectorised steps
_CRC_TABLE = np.array([binascii.crc_hqx(bytes([i]), 0) for i in range(256)], dtype=np.uint16)
_SHIFT_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _shift_tables() -> tuple[np.ndarray, np.ndarray]:
    """v -> v·x^(8n) mod P (the register after n zero bytes) for n < 64 and for multiples
    of 64 up to a maximum frame, each split by the byte of v it depends on (it is linear)."""
    global _SHIFT_TABLES
    if _SHIFT_TABLES is None:
        basis = [hi << 8 for hi in range(256)] + list(range(256))
        tables = []
        for count, zeros in ((64, b"\0"), (MAX_FRAME // 64 + 1, bytes(64))):
            rows, vals = [], basis
            for _ in range(count):
                rows.append(vals)
                vals = [binascii.crc_hqx(zeros, v) for v in vals]
            tables.append(np.array(rows, dtype=np.uint16))
        _SHIFT_TABLES = tables[0], tables[1]
    return _SHIFT_TABLES


def _span_crcs(data: bytes, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT-FALSE of ``data[starts[k]:stops[k]]`` for every k, vectorised.

    A flood of false headers that each claim ~2 KiB would otherwise cost ~2 KiB of CRC
    per candidate (8 MiB took 5-8 s). The CRC has no reflection and no final XOR, so it
    is linear: with R(p) the register after data[:p] from 0,
    ``crc(data[a:b]) == R(b) ^ shift(R(a) ^ 0xFFFF, b - a)``. R is computed for every
    position in one pass (a C call every 16 bytes, then 15 vectorised byte steps).
    """
    n = len(data)
    b = np.frombuffer(data, dtype=np.uint8)
    m = n // _STEP
    ck = np.empty(m + 1, dtype=np.uint16)
    r = 0
    ck[0] = 0
    mv = memoryview(data)
    for k in range(m):
        r = binascii.crc_hqx(mv[k * _STEP : (k + 1) * _STEP], r)
        ck[k + 1] = r
    regs = np.empty(n + 1, dtype=np.uint16)
    regs[: m * _STEP + 1 : _STEP] = ck
    cur = ck[:m]
    for t in range(_STEP - 1):
        cur = (cur << 8) ^ _CRC_TABLE[(cur >> 8) ^ b[t : m * _STEP : _STEP]]
        regs[t + 1 : m * _STEP : _STEP] = cur
    for p in range(m * _STEP + 1, n + 1):
        r = binascii.crc_hqx(mv[p - 1 : p], r)
        regs[p] = r
    mv.release()
    small, big = _shift_tables()
    q, rem = np.divmod(stops - starts, 64)
    v = regs[starts] ^ np.uint16(0xFFFF)
    v = small[rem, v >> 8] ^ small[rem, 256 + (v & 0xFF)]
    v = big[q, v >> 8] ^ big[q, 256 + (v & 0xFF)]
    return regs[stops] ^ v


@dataclass
class FramingStats:
    """Counters of :class:`FrameDecoder`.

    Invariant: ``bytes_received == bytes_skipped + bytes_in_frames + buffered``.
    Rejected candidates (sync words that did not start a frame) are counted once each:
    ``header_errors`` (version or length impossible), ``crc_errors`` (complete, CRC
    mismatch), ``overtaken`` (a valid frame ended inside the length it claimed, so it was
    dropped without waiting for that length) and, after :meth:`FrameDecoder.flush`,
    ``truncated`` (the stream ended inside the length it claimed).
    """

    bytes_received: int = 0
    bytes_skipped: int = 0
    bytes_in_frames: int = 0
    frames_ok: int = 0
    crc_errors: int = 0
    header_errors: int = 0
    overtaken: int = 0
    truncated: int = 0


class FrameDecoder:
    """Finds frames in a byte stream (PROTOCOL.md §5); bounded memory (one maximum frame
    plus the input of one call).

    The frame delivered next is the CRC-valid frame that *ends* first; so a damaged or
    false header that claims a long payload never holds back the good frames after it,
    and the frames found do not depend on how the stream is cut into calls.
    ``max_payload`` may be lowered for a receiver that expects only small frames (it
    then rejects longer ones at the header).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        if not 0 <= max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload: expected 0..{MAX_PAYLOAD}, got {max_payload}")
        self.max_payload = max_payload
        self.stats = FramingStats()
        self._buf = bytearray()
        self._pos = 0
        self._base = 0  # stream offset of _buf[0]; candidates are kept in stream offsets
        # Undecided candidates in stream order ([start, end, state]), the pending ones
        # also in a heap by (end, start), and where the search for sync words goes on.
        self._cands: deque[list[int]] = deque()
        self._heap: list[tuple[int, int, list[int]]] = []
        self._scan = 0
        self._no_bulk_at = -1
        # After a bulk pass that found no valid frame, the region from _pos on holds only
        # pending candidates: the next large piece goes straight to _bulk_skip.
        self._bulk_mode = False
        self._bulk_ok = True

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    def reset(self) -> None:
        """Forget buffered bytes (not counted: call :meth:`flush` first to count them)."""
        self._base += len(self._buf)
        self._buf.clear()
        self._pos = 0
        self._cands.clear()
        self._heap.clear()
        self._bulk_mode = False

    def flush(self) -> list[Frame]:
        """End of stream: count every sync word still buffered (``truncated`` if its
        header or frame would end past the stream), count the buffered bytes as skipped,
        and empty the buffer.

        Every complete frame has already been delivered by :meth:`feed` (a pending long
        header never holds one back), so this returns ``[]``; it is a list so that a
        caller can treat the end of a stream like any other piece.
        """
        frames: list[Frame] = []
        if self._bulk_mode:
            # Rebuild the exact state of the region a bulk pass left undecided.
            self._bulk_mode, self._bulk_ok = False, False
            frames = self.feed(b"")
            self._bulk_ok = True
        st = self.stats
        for c in self._cands:
            if c[2] == _HDR_BAD:
                st.header_errors += 1
            elif c[2] == _CRC_BAD:
                st.crc_errors += 1
            else:
                st.truncated += 1
        buf, end = self._buf, len(self._buf)
        j = (self._scan - self._base) if self._cands else self._pos
        while (j := buf.find(SYNC, j, end)) >= 0:
            # None of these can be complete: only a header can be judged.
            if end - j >= HEADER_SIZE and (
                buf[j + 2] != VERSION or (buf[j + 4] | (buf[j + 5] << 8)) > self.max_payload
            ):
                st.header_errors += 1
            else:
                st.truncated += 1
            j += 1
        st.bytes_skipped += self.buffered
        self.reset()
        return frames

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Append ``data`` and return every frame completed by it, in order."""
        st = self.stats
        st.bytes_received += len(data)
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        cands = self._cands
        base = self._base
        pos = self._pos
        end = len(buf)
        settled = False
        if self._bulk_mode and len(data) >= _BULK_MIN_BYTES and self._bulk_ok:
            pos, settled = self._bulk_skip(base, pos, end)
        while not settled:
            if not cands:
                # Fast path: nothing undecided; the usual case is a whole frame at pos.
                i = buf.find(SYNC, pos)
                if i < 0:
                    # Keep a trailing first half of the sync word.
                    keep = 1 if end > pos and buf[end - 1] == _SYNC0 else 0
                    st.bytes_skipped += end - keep - pos
                    pos = end - keep
                    break
                st.bytes_skipped += i - pos
                pos = i
                if end - pos < HEADER_SIZE:
                    break
                length = buf[pos + 4] | (buf[pos + 5] << 8)
                if buf[pos + 2] != VERSION or length > self.max_payload:
                    st.header_errors += 1
                    st.bytes_skipped += 1
                    pos += 1
                    continue
                stop = pos + HEADER_SIZE + length
                if stop + CRC_SIZE > end:
                    if buf.find(SYNC, pos + 2) < 0:
                        break  # incomplete, and nothing after it that could end first
                # No sync word where a frame ending before this one could start: this
                # candidate's own CRC decides. (re finds a 2-byte needle twice as fast
                # as bytearray.find.)
                elif _find_sync(buf, pos + 2, stop - 11) is None:
                    crc = buf[stop] | (buf[stop + 1] << 8)
                    if crc16(memoryview(buf)[pos + 2 : stop]) == crc:
                        st.frames_ok += 1
                        frames.append(
                            Frame(
                                type=buf[pos + 3],
                                seq=buf[pos + 6] | (buf[pos + 7] << 8),
                                timestamp_us=int.from_bytes(buf[pos + 8 : pos + 12], "little"),
                                payload=bytes(buf[pos + HEADER_SIZE : stop]),
                                version=buf[pos + 2],
                                crc=crc,
                            )
                        )
                        st.bytes_in_frames += stop + CRC_SIZE - pos
                        pos = stop + CRC_SIZE
                    else:
                        st.crc_errors += 1
                        st.bytes_skipped += 1
                        pos += 1
                    continue
                # Undecided: a pending candidate for the slow path.
                c = [base + pos, base + stop + CRC_SIZE, _PENDING]
                cands.append(c)
                heappush(self._heap, (c[1], c[0], c))
                self._scan = c[0] + 1
            # Slow path: this candidate is incomplete, or may contain an earlier-ending one.
            z = self._next_frame(base, pos, end)
            if z is _BULK:
                new_pos, settled = self._bulk_skip(base, pos, end)
                if new_pos == pos and not settled:
                    self._no_bulk_at = base + pos  # no progress: do not try again here
                pos = new_pos
                continue
            if z is None:
                while cands and cands[0][2] != _PENDING:
                    self._count(cands.popleft())
                new_pos = (cands[0][0] if cands else self._scan) - base
                st.bytes_skipped += new_pos - pos
                pos = new_pos
                if cands:
                    break
                continue
            start, stop_abs = z[0], z[1]
            while cands[0] is not z:
                self._count(cands.popleft())
            cands.popleft()
            while cands and cands[0][0] < stop_abs:
                cands.popleft()  # inside the frame: never candidates
            if self._scan < stop_abs:
                self._scan = stop_abs
            i, stop = start - base, stop_abs - base - CRC_SIZE
            st.bytes_skipped += i - pos
            frames.append(self._frame(i, stop, buf[stop] | (buf[stop + 1] << 8)))
            st.bytes_in_frames += stop_abs - start
            pos = stop + CRC_SIZE
        self._bulk_mode = settled
        if pos >= _COMPACT_AT or pos == end:
            del buf[:pos]
            base += pos
            pos = 0
        self._base = base
        self._pos = pos
        return frames

    def _frame(self, i: int, stop: int, crc: int) -> Frame:
        buf = self._buf
        self.stats.frames_ok += 1
        return Frame(
            type=buf[i + 3],
            seq=buf[i + 6] | (buf[i + 7] << 8),
            timestamp_us=int.from_bytes(buf[i + 8 : i + 12], "little"),
            payload=bytes(buf[i + HEADER_SIZE : stop]),
            version=buf[i + 2],
            crc=crc,
        )

    def _count(self, c: list[int]) -> None:
        """A candidate passed over on the way to the next frame: count why."""
        st = self.stats
        if c[2] == _HDR_BAD:
            st.header_errors += 1
        elif c[2] == _CRC_BAD:
            st.crc_errors += 1
        else:
            st.overtaken += 1

    def _next_frame(self, base: int, pos: int, end: int) -> list[int] | None:
        """The valid frame (as its candidate) that ends first among those starting at or
        after ``pos``, or None if none is complete yet.

        Candidates are examined in order of their claimed end, so each one's CRC is
        computed at most once, and only once no frame can end before it; sync words are
        searched only as far as a frame ending before the best candidate could start.
        """
        buf, heap, cands = self._buf, self._heap, self._cands
        pos_abs, end_abs = base + pos, base + end
        max_payload = self.max_payload
        scan = self._scan
        bad_run = 0
        while True:
            while heap and heap[0][1] < pos_abs:
                heappop(heap)  # left behind by a delivered frame
            # A frame must start before `limit` to be complete now and to end before
            # the first pending candidate's claimed end.
            limit = end_abs - _MIN_FRAME + 1
            if heap and heap[0][0] - _MIN_FRAME < limit:
                limit = heap[0][0] - _MIN_FRAME
            while scan < limit:
                j = buf.find(SYNC, scan - base, limit - base + 1)
                if j < 0:
                    scan = limit
                    break
                ja = j + base
                scan = ja + 1
                length = buf[j + 4] | (buf[j + 5] << 8)
                if buf[j + 2] != VERSION or length > max_payload:
                    cands.append([ja, 0, _HDR_BAD])
                    continue
                e = ja + _MIN_FRAME + length
                c = [ja, e, _PENDING]
                cands.append(c)
                heappush(heap, (e, ja, c))
                if e - _MIN_FRAME < limit:
                    limit = e - _MIN_FRAME
            if not heap or heap[0][0] > end_abs:
                self._scan = scan
                return None
            e, ja, c = heappop(heap)
            i = e - CRC_SIZE - base
            if crc16(memoryview(buf)[ja - base + 2 : i]) == buf[i] | (buf[i + 1] << 8):
                self._scan = scan
                return c
            c[2] = _CRC_BAD
            bad_run += 1
            if (
                bad_run >= _BULK_AFTER
                and end_abs - scan >= _BULK_MIN_BYTES
                and pos_abs != self._no_bulk_at
                and self._bulk_ok
            ):
                self._scan = scan
                return _BULK

    def _bulk_skip(self, base: int, pos: int, end: int) -> tuple[int, bool]:
        """Skip in one vectorised pass every candidate from ``pos`` on whose fate is
        already certain: bad headers, and complete candidates whose CRC fails and inside
        which no valid frame ends (so they are CRC errors whatever comes later). Stops
        at the first valid, incomplete or overtaken candidate, which the exact path
        decides. Counts exactly what that path would.

        Returns the new position and whether the region holds no valid frame at all (then
        everything left is pending: undecided candidates are dropped, to be recomputed
        from the new position when more bytes arrive)."""
        lim = end - _MIN_FRAME + 1  # a candidate starting at or after lim is incomplete
        if lim <= pos:
            return pos, False
        data = bytes(self._buf[pos:end])
        b = np.frombuffer(data, dtype=np.uint8)
        j = np.flatnonzero((b[: lim - pos] == SYNC[0]) & (b[1 : lim - pos + 1] == SYNC[1]))
        length = b[j + 4].astype(np.int64) | (b[j + 5].astype(np.int64) << 8)
        hdr_ok = (b[j + 2] == VERSION) & (length <= self.max_payload)
        e = j + _MIN_FRAME + length
        complete = hdr_ok & (e <= end - pos)
        valid = np.zeros(len(j), dtype=bool)
        k = np.flatnonzero(complete)
        if k.size:
            stops = e[k] - CRC_SIZE
            stored = b[stops].astype(np.uint16) | (b[stops + 1].astype(np.uint16) << 8)
            valid[k] = _span_crcs(data, j[k] + 2, stops) == stored
        decided = ~hdr_ok | (complete & ~valid)
        settled = not valid.any()
        if not settled:
            # Overtaken: a valid frame that starts after the candidate ends before it.
            big = np.iinfo(np.int64).max
            first_end_after = np.minimum.accumulate(np.where(valid, e, big)[::-1])[::-1]
            later = np.append(first_end_after[1:], big)
            decided &= ~hdr_ok | (later >= e)
        n = int(np.argmin(decided)) if not decided.all() else len(j)
        skip = int(j[n]) if n < len(j) else lim - pos
        n_hdr = int(np.count_nonzero(~hdr_ok[:n]))
        st = self.stats
        st.header_errors += n_hdr
        st.crc_errors += n - n_hdr
        st.bytes_skipped += skip
        new_abs = base + pos + skip
        cands = self._cands
        if settled:
            cands.clear()
            self._heap.clear()
            self._scan = new_abs
        while cands and cands[0][0] < new_abs:
            cands.popleft()  # counted above; their heap entries are now stale
        if self._scan < new_abs:
            self._scan = new_abs
        return pos + skip, settled


# Frames remembered (sequence number and CRC) to recognise a repeated frame, and
# sequence numbers remembered as missing to recognise a frame that arrives late.
SEQ_WINDOW = 64
# A forward jump of sample_index is a loss only if the device could have sampled that
# much since the stream's previous frame arrived (PROTOCOL.md §3.2): at most
# rate x ((1 + CLOCK_TOLERANCE) x host seconds elapsed + GAP_SLACK_S).
CLOCK_TOLERANCE = 0.05
GAP_SLACK_S = 5.0
_NEW, _DUP, _LATE = 0, 1, 2


@dataclass
class StreamState:
    """Per-stream accounting of :class:`HostDecoder`."""

    next_index: int | None = None
    frames: int = 0
    samples: int = 0
    samples_lost: int = 0
    # sample_index stepped back (a restart), or jumped further ahead than the device
    # could have sampled in the time that passed (a resync): no loss counted.
    discontinuities: int = 0
    # DATA frames that arrived after later samples of their stream had been delivered:
    # not delivered; their samples stay counted in samples_lost.
    late_frames: int = 0
    last_arrival: float | None = None  # host time (``feed(now=...)``) of the last frame


@dataclass
class DecoderStats:
    """All counters of a :class:`HostDecoder`; ``framing`` is the byte-level part.

    ``frames_lost`` counts sequence numbers that never arrived (a frame that arrives
    late is taken back off it and counted in ``reordered_frames``); repeated frames
    (same ``seq`` and CRC as one of the last 64) are ``duplicate_frames`` and are not
    delivered; ``seq_resets`` counts steps of ``seq`` backwards that were neither
    (a sender that restarted).
    """

    framing: FramingStats
    frames_lost: int = 0
    duplicate_frames: int = 0
    reordered_frames: int = 0
    seq_resets: int = 0
    malformed_frames: int = 0
    invalid_info_frames: int = 0
    unknown_type_frames: int = 0
    info_frames: int = 0
    data_frames: int = 0
    decision_frames: int = 0
    request_frames: int = 0
    last_error: str = ""  # why the last malformed or invalid frame was rejected
    streams: dict[int, StreamState] = field(default_factory=dict)

    @property
    def samples_lost(self) -> int:
        return sum(s.samples_lost for s in self.streams.values())

    def as_dict(self) -> dict:
        """Flat, JSON-able summary."""
        f = self.framing
        return {
            "bytes_received": f.bytes_received,
            "bytes_skipped": f.bytes_skipped,
            "frames_ok": f.frames_ok,
            "crc_errors": f.crc_errors,
            "header_errors": f.header_errors,
            "overtaken": f.overtaken,
            "truncated": f.truncated,
            "frames_lost": self.frames_lost,
            "duplicate_frames": self.duplicate_frames,
            "reordered_frames": self.reordered_frames,
            "seq_resets": self.seq_resets,
            "malformed_frames": self.malformed_frames,
            "invalid_info_frames": self.invalid_info_frames,
            "unknown_type_frames": self.unknown_type_frames,
            "samples_lost": self.samples_lost,
            "samples_lost_by_stream": {k: s.samples_lost for k, s in self.streams.items()},
            "late_frames": sum(s.late_frames for s in self.streams.values()),
            "discontinuities": sum(s.discontinuities for s in self.streams.values()),
        }


@dataclass(frozen=True)
class DataEvent:
    """A DATA frame delivered in its stream's order: ``lost_before`` samples of its
    stream are missing between the previous delivered frame of that stream and this
    one. With ``discontinuity`` the index stepped back or jumped implausibly far
    (``jump`` samples, signed): continuity is unknown and nothing is counted lost."""

    frame: Frame
    block: DataBlock
    lost_before: int
    discontinuity: bool
    jump: int = 0


@dataclass(frozen=True)
class InfoEvent:
    frame: Frame
    info: DeviceInfo


@dataclass(frozen=True)
class InvalidInfoEvent:
    """An INFO frame that passed the CRC but describes an impossible device (a NaN
    scale, an unknown unit, ...): ``error`` says which field and what was expected."""

    frame: Frame
    error: str


@dataclass(frozen=True)
class DecisionEvent:
    frame: Frame
    decision: Decision


@dataclass(frozen=True)
class RequestInfoEvent:
    frame: Frame


Event = DataEvent | InfoEvent | InvalidInfoEvent | DecisionEvent | RequestInfoEvent


class HostDecoder:
    """Bytes in, typed events out, with exact loss accounting (PROTOCOL.md §3.2, §5).

    Samples lost are counted per stream from ``sample_index`` (modulo 2^32); a step
    backwards of at least 2^31 is a discontinuity (device restart), not a loss. Given
    the host's clock (``feed(data, now=time.monotonic())``), a forward jump larger than
    the device could have sampled since the stream's previous frame arrived is a
    discontinuity too (a resync), so one bad index cannot become hours of "loss".
    A repeated frame is dropped and counted; a frame that arrives late is counted and,
    if its stream has already moved past its samples, not delivered.
    """

    def __init__(
        self,
        max_payload: int = MAX_PAYLOAD,
        clock_tolerance: float = CLOCK_TOLERANCE,
        gap_slack_s: float = GAP_SLACK_S,
    ) -> None:
        if not (clock_tolerance >= 0 and gap_slack_s >= 0):
            raise ValueError(
                f"clock_tolerance, gap_slack_s: expected >= 0, got {clock_tolerance}, {gap_slack_s}"
            )
        self.framer = FrameDecoder(max_payload)
        self.stats = DecoderStats(self.framer.stats)
        self.info: DeviceInfo | None = None  # the last valid INFO
        self.clock_tolerance = clock_tolerance
        self.gap_slack_s = gap_slack_s
        self._rates: dict[int, float] = {}
        self._next_seq: int | None = None
        self._recent: dict[int, int] = {}  # seq -> CRC of the last SEQ_WINDOW frames
        self._missing: dict[int, None] = {}  # seqs skipped lately, oldest first

    def feed(self, data: bytes | bytearray | memoryview, now: float | None = None) -> list[Event]:
        """Decode ``data``; ``now`` (host seconds, monotonic) enables the plausibility
        check of index jumps."""
        return self.interpret(self.framer.feed(data), now)

    def flush(self) -> list[Event]:
        """End of stream: see :meth:`FrameDecoder.flush`."""
        return self.interpret(self.framer.flush(), None)

    def interpret(self, frames: list[Frame], now: float | None = None) -> list[Event]:
        """Events of frames already found by :attr:`framer` (``feed`` does both; a
        caller that needs the frames themselves, like a fuzzer, drives the two steps)."""
        events: list[Event] = []
        for frame in frames:
            kind = self._count_seq(frame)
            if kind == _DUP:
                continue
            try:
                ev = self._interpret(frame, kind, now)
            except (ProtocolError, ValueError) as exc:
                self.stats.malformed_frames += 1
                self.stats.last_error = str(exc)
                continue
            if ev is not None:
                events.append(ev)
        return events

    def _count_seq(self, frame: Frame) -> int:
        st, recent, seq = self.stats, self._recent, frame.seq
        if recent.get(seq) == frame.crc:
            st.duplicate_frames += 1
            return _DUP
        kind = _NEW
        nxt = self._next_seq
        if nxt is not None and seq != nxt:
            missing = self._missing
            ahead = (seq - nxt) & 0xFFFF
            if ahead < 0x8000:
                st.frames_lost += ahead
                for k in range(max(0, ahead - SEQ_WINDOW), ahead):
                    missing[(nxt + k) & 0xFFFF] = None
                while len(missing) > SEQ_WINDOW:
                    del missing[next(iter(missing))]
            elif seq in missing:
                del missing[seq]
                st.frames_lost -= 1
                st.reordered_frames += 1
                kind = _LATE
            else:
                st.seq_resets += 1
                missing.clear()
        if kind == _NEW:
            self._next_seq = (seq + 1) & 0xFFFF
        recent.pop(seq, None)
        recent[seq] = frame.crc
        if len(recent) > SEQ_WINDOW:
            del recent[next(iter(recent))]
        return kind

    def _interpret(self, frame: Frame, kind: int, now: float | None) -> Event | None:
        st = self.stats
        if frame.type == FrameType.DATA:
            return self._data(frame, parse_data_payload(frame.payload), kind, now)
        if frame.type == FrameType.INFO:
            try:
                info = parse_info_payload(frame.payload)
            except ProtocolError as exc:
                st.invalid_info_frames += 1
                st.last_error = str(exc)
                return InvalidInfoEvent(frame, str(exc))
            st.info_frames += 1
            self.info = info
            self._rates = {s.stream_id: s.sampling_rate for s in info.streams}
            return InfoEvent(frame, info)
        if frame.type == FrameType.DECISION:
            d = parse_decision_payload(frame.payload)
            st.decision_frames += 1
            return DecisionEvent(frame, d)
        if frame.type == FrameType.REQUEST_INFO:
            st.request_frames += 1
            return RequestInfoEvent(frame)
        st.unknown_type_frames += 1
        return None

    def _data(self, frame: Frame, block: DataBlock, kind: int, now: float | None):
        stream = self.stats.streams.get(block.stream_id)
        if stream is None:
            stream = self.stats.streams[block.stream_id] = StreamState()
        n = block.n_samples
        lost, jump = 0, 0
        if stream.next_index is not None:
            step = (block.sample_index - stream.next_index) & 0xFFFFFFFF
            if step >= 0x80000000:
                if kind == _LATE:
                    # Later samples of this stream went out already: the caller has
                    # moved on, so these stay counted as lost.
                    stream.late_frames += 1
                    return None
                jump = step - (1 << 32)
            elif step:
                rate = self._rates.get(block.stream_id)
                last = stream.last_arrival
                if (
                    now is not None
                    and last is not None
                    and rate is not None
                    and step > rate * ((1 + self.clock_tolerance) * (now - last) + self.gap_slack_s)
                ):
                    jump = step
                else:
                    lost = step
            if jump:
                stream.discontinuities += 1
        stream.next_index = (block.sample_index + n) & 0xFFFFFFFF
        stream.last_arrival = now
        stream.frames += 1
        stream.samples += n
        stream.samples_lost += lost
        self.stats.data_frames += 1
        return DataEvent(frame, block, lost, jump != 0, jump)
