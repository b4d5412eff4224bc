"""Interpreting the frames of the firmware bridge (PROTOCOL.md §3, §5.1):
:class:`HostDecoder`, bytes in, typed events out, with exact loss accounting.

Frames come from :class:`~edge_emotion.firmware_bridge.framing.FrameDecoder`; the
payloads are parsed by :mod:`edge_emotion.firmware_bridge.codec`. Lost frames are counted
from ``seq`` gaps, lost samples from ``sample_index`` gaps; repeated and late frames are
recognised. Nothing here raises on input bytes: every problem becomes a counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_emotion.firmware_bridge.codec import (
    parse_data_payload,
    parse_decision_payload,
    parse_info_payload,
)
from edge_emotion.firmware_bridge.framing import FrameDecoder, FramingStats
from edge_emotion.firmware_bridge.protocol import (
    MAX_PAYLOAD,
    DataBlock,
    Decision,
    DeviceInfo,
    Frame,
    FrameType,
    ProtocolError,
)

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
