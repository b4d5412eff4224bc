"""Finding frames in a byte stream (PROTOCOL.md §5): :class:`FrameDecoder`.

Bytes arrive in arbitrary pieces, damaged, with noise and false sync words;
:class:`FrameDecoder` delivers the CRC-valid frames by the protocol's rule (the valid frame
that *ends* first), resynchronises after damage and counts every byte and every rejected
candidate. It never raises on input bytes. What the frames mean, and what was lost, is
:class:`edge_emotion.firmware_bridge.decoder.HostDecoder`'s job.
"""

from __future__ import annotations

import binascii
import re
from collections import deque
from dataclasses import dataclass
from heapq import heappop, heappush

import numpy as np

from edge_emotion.firmware_bridge.protocol import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    SYNC,
    VERSION,
    Frame,
    crc16,
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
            self._count(c, at_end=True)
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
                        frames.append(self._frame(pos, stop, crc))
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
        """The frame whose header starts at ``_buf[i]`` and whose payload ends at ``stop``
        (its CRC already checked), counted."""
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

    def _count(self, c: list[int], at_end: bool = False) -> None:
        """A candidate passed over on the way to the next frame (or left at the end of
        the stream): count why."""
        st = self.stats
        if c[2] == _HDR_BAD:
            st.header_errors += 1
        elif c[2] == _CRC_BAD:
            st.crc_errors += 1
        elif at_end:
            st.truncated += 1
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
