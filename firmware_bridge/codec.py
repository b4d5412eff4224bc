"""Bytes <-> values of the firmware bridge protocol (``PROTOCOL.md`` §2–3): frame and
payload encoders, payload parsers that validate every field.

Every function here is pure. An encoder refuses what a parser would reject (a
``ValueError`` naming the field); a parser raises :class:`~.protocol.ProtocolError`
naming the field and what was expected. The vocabulary (sizes, codes, value types) is
:mod:`edge_emotion.firmware_bridge.protocol`.
"""

from __future__ import annotations

import struct

import numpy as np

from edge_emotion.decision import AbstainReason
from edge_emotion.firmware_bridge.protocol import (
    CHANNEL_DESC_SIZE,
    DATA_HEADER_SIZE,
    DECISION_SIZE,
    DEVICE_NAME_SIZE,
    INFO_HEADER_SIZE,
    MAX_CHANNELS_PER_STREAM,
    MAX_CHANNELS_TOTAL,
    MAX_PAYLOAD,
    MAX_SAMPLES_PER_FRAME,
    MAX_SAMPLING_RATE_HZ,
    MAX_STREAMS,
    MIN_SAMPLING_RATE_HZ,
    NAME_SIZE,
    ROLE_CODES,
    ROLE_NAMES,
    STREAM_DESC_SIZE,
    SYNC,
    UNIT_CODES,
    UNIT_NAMES,
    VERSION,
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    FrameType,
    ProtocolError,
    SampleFormat,
    StreamSpec,
    crc16,
)

_HEADER = struct.Struct("<2sBBHHI")  # sync, version, type, length, seq, timestamp_us
_DATA_HEADER = struct.Struct("<BBBBII")
_INFO_HEADER = struct.Struct("<BBHI16s")
_STREAM_DESC = struct.Struct("<BBBBf")
_CHANNEL_DESC = struct.Struct("<8sBBHf")
_DECISION = struct.Struct("<IHHBBBB")
_FORMAT_RANGE = {
    SampleFormat.INT16: (-(2**15), 2**15 - 1),
    SampleFormat.INT24: (-(2**23), 2**23 - 1),
    SampleFormat.INT32: (-(2**31), 2**31 - 1),
}
_BY_CODE = {int(f): f for f in SampleFormat}  # Enum lookup by value is slow per frame
_REASONS = {int(r): r for r in AbstainReason}


# --------------------------------------------------------------------------- encode


def encode_frame(frame_type: int, seq: int, timestamp_us: int, payload: bytes = b"") -> bytes:
    """Header + payload + CRC. ``seq`` and ``timestamp_us`` are taken modulo their width."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload: expected at most {MAX_PAYLOAD} bytes, got {len(payload)}")
    if not 0 <= int(frame_type) <= 255:
        raise ValueError(f"frame_type: expected 0..255, got {frame_type}")
    head = _HEADER.pack(
        SYNC, VERSION, int(frame_type), len(payload), seq & 0xFFFF, timestamp_us & 0xFFFFFFFF
    )
    body = head[2:] + payload
    return SYNC + body + struct.pack("<H", crc16(body))


def _ascii_field(text: str, size: int, what: str) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what}: expected ASCII, got {text!r}") from exc
    if len(raw) > size or not all(0x20 <= b < 0x7F for b in raw):
        raise ValueError(
            f"{what}: expected at most {size} printable ASCII characters, got {text!r}"
        )
    return raw.ljust(size, b"\x00")


def _rate_ok(rate: float) -> bool:
    return bool(np.isfinite(rate)) and MIN_SAMPLING_RATE_HZ <= rate <= MAX_SAMPLING_RATE_HZ


def _scale_ok(scale: float) -> bool:
    return bool(np.isfinite(scale)) and scale > 0


def encode_info_payload(info: DeviceInfo) -> bytes:
    if not 1 <= len(info.streams) <= MAX_STREAMS:
        raise ValueError(f"info.streams: expected 1..{MAX_STREAMS} streams")
    if len({s.stream_id for s in info.streams}) != len(info.streams):
        raise ValueError("info.streams: stream ids must be unique")
    if sum(len(s.channels) for s in info.streams) > MAX_CHANNELS_TOTAL:
        raise ValueError(f"info.streams: at most {MAX_CHANNELS_TOTAL} channels in all")
    parts = [
        _INFO_HEADER.pack(
            len(info.streams),
            0,
            info.firmware_version & 0xFFFF,
            info.device_id & 0xFFFFFFFF,
            _ascii_field(info.name, DEVICE_NAME_SIZE, "info.name"),
        )
    ]
    for s in info.streams:
        if not 1 <= len(s.channels) <= MAX_CHANNELS_PER_STREAM:
            raise ValueError(
                f"stream {s.stream_id}: expected 1..{MAX_CHANNELS_PER_STREAM} channels"
            )
        if not _rate_ok(float(np.float32(s.sampling_rate))):
            raise ValueError(
                f"stream {s.stream_id}: sampling_rate {s.sampling_rate!r} Hz; expected "
                f"{MIN_SAMPLING_RATE_HZ:g}..{MAX_SAMPLING_RATE_HZ:g} Hz"
            )
        names = [c.name for c in s.channels]
        if len(set(names)) != len(names) or "" in names:
            raise ValueError(
                f"stream {s.stream_id}: channel names {names}; expected non-empty, unique names"
            )
        if not 0 <= s.stream_id <= 255 or not 0 <= s.samples_per_frame <= 255:
            raise ValueError(f"stream {s.stream_id}: stream_id and samples_per_frame are 0..255")
        parts.append(
            _STREAM_DESC.pack(
                s.stream_id,
                int(SampleFormat(s.sample_format)),
                len(s.channels),
                s.samples_per_frame,
                s.sampling_rate,
            )
        )
        for c in s.channels:
            if c.role not in ROLE_CODES:
                raise ValueError(f"channel {c.name}: role must be one of {sorted(ROLE_CODES)}")
            if c.unit not in UNIT_CODES:
                raise ValueError(f"channel {c.name}: unit must be one of {sorted(UNIT_CODES)}")
            if not _scale_ok(float(np.float32(c.scale))):
                raise ValueError(
                    f"channel {c.name}: scale {c.scale!r}; expected a finite scale > 0"
                )
            parts.append(
                _CHANNEL_DESC.pack(
                    _ascii_field(c.name, NAME_SIZE, "channel name"),
                    ROLE_CODES[c.role],
                    UNIT_CODES[c.unit],
                    0,
                    c.scale,
                )
            )
    return b"".join(parts)


def encode_samples(raw: np.ndarray, sample_format: SampleFormat) -> bytes:
    """(n_samples, n_channels) integers/floats -> sample-major little-endian bytes."""
    fmt = SampleFormat(sample_format)
    arr = np.asarray(raw)
    if fmt == SampleFormat.FLOAT32:
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"raw: expected integers for {fmt.name}, got {arr.dtype}")
    lo, hi = _FORMAT_RANGE[fmt]
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"raw: values outside the {fmt.name} range [{lo}, {hi}]")
    if fmt == SampleFormat.INT16:
        return np.ascontiguousarray(arr, dtype="<i2").tobytes()
    if fmt == SampleFormat.INT32:
        return np.ascontiguousarray(arr, dtype="<i4").tobytes()
    as_bytes = np.ascontiguousarray(arr, dtype="<i4").reshape(-1).view(np.uint8).reshape(-1, 4)
    return as_bytes[:, :3].tobytes()


def encode_data_payload(block: DataBlock) -> bytes:
    raw = np.asarray(block.raw)
    if raw.ndim != 2:
        raise ValueError(f"raw: expected (n_samples, n_channels), got shape {raw.shape}")
    n, ch = raw.shape
    if not 1 <= n <= MAX_SAMPLES_PER_FRAME or not 1 <= ch <= MAX_CHANNELS_PER_STREAM:
        raise ValueError(
            f"raw: expected 1..{MAX_SAMPLES_PER_FRAME} samples and "
            f"1..{MAX_CHANNELS_PER_STREAM} channels, got shape {raw.shape}"
        )
    fmt = SampleFormat(block.sample_format)
    payload = _DATA_HEADER.pack(
        block.stream_id,
        int(fmt),
        ch,
        n,
        block.sample_index & 0xFFFFFFFF,
        block.lead_off_mask & 0xFFFFFFFF,
    ) + encode_samples(raw, fmt)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"raw: {n}x{ch} {fmt.name} samples exceed {MAX_PAYLOAD} payload bytes")
    return payload


def quantise_probability(p: float) -> int:
    """[0, 1] -> round(p × 65535); NaN -> 0 (the abstained flag says it is not valid)."""
    if not np.isfinite(p):
        return 0
    return round(min(max(float(p), 0.0), 1.0) * 65535)


def encode_decision_payload(d: Decision) -> bytes:
    labels = (1 if d.arousal_high else 0) | (2 if d.valence_high else 0)
    return _DECISION.pack(
        d.window_end_us & 0xFFFFFFFF,
        quantise_probability(d.p_arousal),
        quantise_probability(d.p_valence),
        labels,
        1 if d.abstained else 0,
        int(d.reason) & 0xFF,
        0,
    )


# --------------------------------------------------------------------------- parse


def _ascii_parse(raw: bytes, what: str) -> str:
    """A NUL-padded ASCII field -> str; ProtocolError unless printable ASCII, then NULs."""
    text, _, pad = raw.partition(b"\x00")
    if pad.strip(b"\x00") or not all(0x20 <= b < 0x7F for b in text):
        raise ProtocolError(
            f"INFO: {what} is {raw!r}; expected printable ASCII padded with NUL bytes"
        )
    return text.decode("ascii")


def parse_info_payload(payload: bytes) -> DeviceInfo:
    """INFO payload -> :class:`DeviceInfo`, validating every field (PROTOCOL.md §3.1).

    Everything downstream sizes buffers and compares configurations from this, so a
    value that could not come from a working device (NaN or non-positive scale, rate
    out of range, unknown role/unit/format, duplicate ids or names) is a
    :class:`ProtocolError` naming the field, never a value passed on.
    """
    if len(payload) < INFO_HEADER_SIZE:
        raise ProtocolError(
            f"INFO: payload of {len(payload)} bytes; expected at least {INFO_HEADER_SIZE}"
        )
    n_streams, _, fw, device_id, name = _INFO_HEADER.unpack_from(payload, 0)
    if not 1 <= n_streams <= MAX_STREAMS:
        raise ProtocolError(f"INFO: n_streams {n_streams}; expected 1..{MAX_STREAMS}")
    device_name = _ascii_parse(name, "device_name")
    pos = INFO_HEADER_SIZE
    streams: list[StreamSpec] = []
    n_total = 0
    for k in range(n_streams):
        if pos + STREAM_DESC_SIZE > len(payload):
            raise ProtocolError(f"INFO: payload ends inside stream descriptor {k}")
        sid, fmt, n_ch, spf, rate = _STREAM_DESC.unpack_from(payload, pos)
        pos += STREAM_DESC_SIZE
        where = f"INFO stream {sid}"
        if any(s.stream_id == sid for s in streams):
            raise ProtocolError(f"{where}: stream_id appears twice; expected unique ids")
        if fmt not in _BY_CODE:
            raise ProtocolError(f"{where}: sample_format {fmt}; expected 1..4")
        if not 1 <= n_ch <= MAX_CHANNELS_PER_STREAM:
            raise ProtocolError(
                f"{where}: n_channels {n_ch}; expected 1..{MAX_CHANNELS_PER_STREAM}"
            )
        n_total += n_ch
        if n_total > MAX_CHANNELS_TOTAL:
            raise ProtocolError(
                f"{where}: {n_total} channels so far; expected at most {MAX_CHANNELS_TOTAL} in all"
            )
        if not _rate_ok(rate):
            raise ProtocolError(
                f"{where}: sampling_rate_hz {rate!r}; expected a finite rate in "
                f"{MIN_SAMPLING_RATE_HZ:g}..{MAX_SAMPLING_RATE_HZ:g} Hz"
            )
        if pos + n_ch * CHANNEL_DESC_SIZE > len(payload):
            raise ProtocolError(f"{where}: payload ends inside its {n_ch} channel descriptors")
        channels = []
        for c in range(n_ch):
            cname, role, unit, _, scale = _CHANNEL_DESC.unpack_from(payload, pos)
            pos += CHANNEL_DESC_SIZE
            ch_name = _ascii_parse(cname, f"stream {sid} channel {c} name")
            what = f"{where} channel {c} ({ch_name!r})"
            if not ch_name or any(x.name == ch_name for x in channels):
                raise ProtocolError(f"{what}: expected a non-empty name, unique in its stream")
            if role not in ROLE_NAMES:
                raise ProtocolError(f"{what}: role {role}; expected one of {sorted(ROLE_NAMES)}")
            if unit not in UNIT_NAMES:
                raise ProtocolError(f"{what}: unit {unit}; expected one of {sorted(UNIT_NAMES)}")
            if not _scale_ok(scale):
                raise ProtocolError(f"{what}: scale {scale!r}; expected a finite scale > 0")
            channels.append(ChannelSpec(ch_name, ROLE_NAMES[role], UNIT_NAMES[unit], float(scale)))
        streams.append(StreamSpec(sid, float(rate), SampleFormat(fmt), tuple(channels), spf))
    # Trailing bytes are allowed: later minor revisions may append fields (PROTOCOL.md §4).
    return DeviceInfo(tuple(streams), device_id, fw, device_name)


def decode_samples(data: bytes | memoryview, sample_format: int, n: int, ch: int) -> np.ndarray:
    """Sample-major wire bytes -> (n, ch) int32 (or float32 for FLOAT32), vectorised."""
    fmt = _BY_CODE.get(sample_format)
    if fmt is None:
        fmt = SampleFormat(sample_format)  # raises ValueError naming the value
    if fmt == SampleFormat.INT16:
        return np.frombuffer(data, dtype="<i2", count=n * ch).astype(np.int32).reshape(n, ch)
    if fmt == SampleFormat.INT32:
        return np.frombuffer(data, dtype="<i4", count=n * ch).astype(np.int32).reshape(n, ch)
    if fmt == SampleFormat.FLOAT32:
        return np.frombuffer(data, dtype="<f4", count=n * ch).astype(np.float32).reshape(n, ch)
    # Each 24-bit word goes into the top three bytes of a little-endian int32; an
    # arithmetic shift then sign-extends it. (Fewer numpy calls than shifting bytes.)
    words = np.empty((n * ch, 4), dtype=np.uint8)
    words[:, 0] = 0
    words[:, 1:] = np.frombuffer(data, dtype=np.uint8, count=3 * n * ch).reshape(-1, 3)
    return (words.view("<i4") >> 8).reshape(n, ch)


def parse_data_payload(payload: bytes) -> DataBlock:
    if len(payload) < DATA_HEADER_SIZE:
        raise ProtocolError(
            f"DATA: payload of {len(payload)} bytes; expected at least {DATA_HEADER_SIZE}"
        )
    sid, fmt, ch, n, index, lead_off = _DATA_HEADER.unpack_from(payload, 0)
    fmt_ = _BY_CODE.get(fmt)
    if fmt_ is None:
        raise ProtocolError(f"DATA: sample_format {fmt}; expected 1..4")
    if not 1 <= ch <= MAX_CHANNELS_PER_STREAM or n < 1:
        raise ProtocolError(
            f"DATA: {n} samples x {ch} channels; expected 1..255 x 1..{MAX_CHANNELS_PER_STREAM}"
        )
    expected = DATA_HEADER_SIZE + n * ch * fmt_.size
    if len(payload) != expected:
        raise ProtocolError(f"DATA: length {len(payload)}; expected {expected} for {n}x{ch}")
    raw = decode_samples(memoryview(payload)[DATA_HEADER_SIZE:], fmt_, n, ch)
    return DataBlock(sid, fmt_, index, lead_off, raw)


def parse_decision_payload(payload: bytes) -> Decision:
    if len(payload) < DECISION_SIZE:
        raise ProtocolError("DECISION payload shorter than 12 bytes")
    end_us, pa, pv, labels, flags, reason, _ = _DECISION.unpack_from(payload, 0)
    return Decision(
        p_arousal=pa / 65535.0,
        p_valence=pv / 65535.0,
        arousal_high=bool(labels & 1),
        valence_high=bool(labels & 2),
        abstained=bool(flags & 1),
        # a code this host does not know reads as OTHER (PROTOCOL.md §3.3)
        reason=_REASONS.get(reason, AbstainReason.OTHER),
        window_end_us=end_us,
    )


def encode_info(info: DeviceInfo, seq: int, timestamp_us: int) -> bytes:
    return encode_frame(FrameType.INFO, seq, timestamp_us, encode_info_payload(info))


def encode_data(block: DataBlock, seq: int, timestamp_us: int) -> bytes:
    return encode_frame(FrameType.DATA, seq, timestamp_us, encode_data_payload(block))


def encode_decision(decision: Decision, seq: int, timestamp_us: int = 0) -> bytes:
    return encode_frame(FrameType.DECISION, seq, timestamp_us, encode_decision_payload(decision))


def encode_request_info(seq: int, timestamp_us: int = 0) -> bytes:
    return encode_frame(FrameType.REQUEST_INFO, seq, timestamp_us)
