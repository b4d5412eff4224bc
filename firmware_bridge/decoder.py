"""Incremental receiver for the firmware bridge protocol (PROTOCOL.md §5).

:class:`FrameDecoder` finds CRC-valid frames in a byte stream that arrives in arbitrary
pieces and resynchronises after damage; :class:`HostDecoder` interprets the payloads and
accounts for what was lost (frames from ``seq`` gaps, samples from ``sample_index``
gaps). Neither ever raises on input bytes: every problem becomes a counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_emotion.firmware_bridge.protocol import (
    CRC_SIZE,
    HEADER_SIZE,
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
# Compact the buffer only once this many consumed bytes sit in front of it: deleting
# the front of a bytearray copies the rest, so do it rarely.
_COMPACT_AT = 1 << 16


@dataclass
class FramingStats:
    """Counters of :class:`FrameDecoder`.

    Invariant: ``bytes_received == bytes_skipped + bytes_in_frames + buffered``.
    """

    bytes_received: int = 0
    bytes_skipped: int = 0
    bytes_in_frames: int = 0
    frames_ok: int = 0
    crc_errors: int = 0
    header_errors: int = 0


class FrameDecoder:
    """Finds frames in a byte stream; bounded memory (one maximum frame plus the input).

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

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    def reset(self) -> None:
        self._buf.clear()
        self._pos = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Append ``data`` and return every frame completed by it, in order."""
        self.stats.bytes_received += len(data)
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        st = self.stats
        pos = self._pos
        end = len(buf)
        while True:
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
            if end - pos < HEADER_SIZE + length + CRC_SIZE:
                break
            crc = buf[stop] | (buf[stop + 1] << 8)
            if crc16(memoryview(buf)[pos + 2 : stop]) != crc:
                st.crc_errors += 1
                st.bytes_skipped += 1
                pos += 1
                continue
            frames.append(
                Frame(
                    type=buf[pos + 3],
                    seq=buf[pos + 6] | (buf[pos + 7] << 8),
                    timestamp_us=int.from_bytes(buf[pos + 8 : pos + 12], "little"),
                    payload=bytes(buf[pos + HEADER_SIZE : stop]),
                    version=buf[pos + 2],
                )
            )
            st.frames_ok += 1
            st.bytes_in_frames += stop + CRC_SIZE - pos
            pos = stop + CRC_SIZE
        if pos >= _COMPACT_AT or pos == end:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return frames


@dataclass
class StreamState:
    """Per-stream accounting of :class:`HostDecoder`."""

    next_index: int | None = None
    frames: int = 0
    samples: int = 0
    samples_lost: int = 0
    discontinuities: int = 0


@dataclass
class DecoderStats:
    """All counters of a :class:`HostDecoder`; ``framing`` is the byte-level part."""

    framing: FramingStats
    frames_lost: int = 0
    malformed_frames: int = 0
    unknown_type_frames: int = 0
    info_frames: int = 0
    data_frames: int = 0
    decision_frames: int = 0
    request_frames: int = 0
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
            "frames_lost": self.frames_lost,
            "malformed_frames": self.malformed_frames,
            "unknown_type_frames": self.unknown_type_frames,
            "samples_lost": self.samples_lost,
            "samples_lost_by_stream": {k: s.samples_lost for k, s in self.streams.items()},
        }


@dataclass(frozen=True)
class DataEvent:
    """A DATA frame that arrived: ``lost_before`` samples of its stream are missing
    between the previous delivered frame of that stream and this one."""

    frame: Frame
    block: DataBlock
    lost_before: int
    discontinuity: bool


@dataclass(frozen=True)
class InfoEvent:
    frame: Frame
    info: DeviceInfo


@dataclass(frozen=True)
class DecisionEvent:
    frame: Frame
    decision: Decision


@dataclass(frozen=True)
class RequestInfoEvent:
    frame: Frame


Event = DataEvent | InfoEvent | DecisionEvent | RequestInfoEvent


class HostDecoder:
    """Bytes in, typed events out, with exact loss accounting.

    Samples lost are counted per stream from ``sample_index`` (modulo 2^32); a step
    backwards of at least 2^31 is a discontinuity (device restart), not a loss.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.framer = FrameDecoder(max_payload)
        self.stats = DecoderStats(self.framer.stats)
        self._next_seq: int | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        events: list[Event] = []
        for frame in self.framer.feed(data):
            self._count_seq(frame.seq)
            try:
                ev = self._interpret(frame)
            except (ProtocolError, ValueError):
                self.stats.malformed_frames += 1
                continue
            if ev is not None:
                events.append(ev)
        return events

    def _count_seq(self, seq: int) -> None:
        if self._next_seq is not None:
            self.stats.frames_lost += (seq - self._next_seq) & 0xFFFF
        self._next_seq = (seq + 1) & 0xFFFF

    def _interpret(self, frame: Frame) -> Event | None:
        st = self.stats
        if frame.type == FrameType.DATA:
            block = parse_data_payload(frame.payload)
            stream = st.streams.setdefault(block.stream_id, StreamState())
            lost, disc = 0, False
            if stream.next_index is not None:
                gap = (block.sample_index - stream.next_index) & 0xFFFFFFFF
                if gap < 0x80000000:
                    lost = gap
                else:
                    disc = True
                    stream.discontinuities += 1
            stream.next_index = (block.sample_index + block.n_samples) & 0xFFFFFFFF
            stream.frames += 1
            stream.samples += block.n_samples
            stream.samples_lost += lost
            st.data_frames += 1
            return DataEvent(frame, block, lost, disc)
        if frame.type == FrameType.INFO:
            info = parse_info_payload(frame.payload)
            st.info_frames += 1
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
