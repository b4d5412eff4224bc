"""Frame layouts of the bridge protocol: CRC variant, round trips, golden vectors, errors."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from edge_emotion.decision import AbstainReason
from edge_emotion.firmware_bridge.codec import (
    encode_data,
    encode_decision,
    encode_frame,
    encode_info,
    encode_request_info,
    parse_data_payload,
    parse_decision_payload,
    parse_info_payload,
)
from edge_emotion.firmware_bridge.protocol import (
    MAX_FRAME,
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

VECTORS = json.loads((Path(__file__).parent / "bridge_vectors" / "vectors.json").read_text())


def crc16_bitwise(data: bytes) -> int:
    """The textbook MSB-first CRC, independent of binascii."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def info_from_fields(f: dict) -> DeviceInfo:
    return DeviceInfo(
        tuple(
            StreamSpec(
                s["stream_id"],
                s["sampling_rate"],
                SampleFormat(s["format"]),
                tuple(
                    ChannelSpec(c["name"], c["role"], c["unit"], c["scale"]) for c in s["channels"]
                ),
                s["samples_per_frame"],
            )
            for s in f["streams"]
        ),
        f["device_id"],
        f["firmware_version"],
        f["name"],
    )


def block_from_fields(f: dict) -> DataBlock:
    dtype = np.float32 if f["format"] == SampleFormat.FLOAT32 else np.int64
    return DataBlock(
        f["stream_id"],
        SampleFormat(f["format"]),
        f["sample_index"],
        f["lead_off_mask"],
        np.array(f["samples"], dtype=dtype),
    )


def decision_from_fields(f: dict) -> Decision:
    return Decision(
        f["p_arousal_q16"] / 65535,
        f["p_valence_q16"] / 65535,
        bool(f["labels"] & 1),
        bool(f["labels"] & 2),
        bool(f["flags"] & 1),
        f["reason"],
        f["window_end_us"],
    )


def python_encode(v: dict) -> bytes:
    f = v["fields"]
    if v["type"] == "info":
        return encode_info(info_from_fields(f), v["seq"], v["timestamp_us"])
    if v["type"] == "data":
        return encode_data(block_from_fields(f), v["seq"], v["timestamp_us"])
    if v["type"] == "decision":
        return encode_decision(decision_from_fields(f), v["seq"], v["timestamp_us"])
    return encode_request_info(v["seq"], v["timestamp_us"])


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1 == int(VECTORS["crc"]["check"], 16)
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 300):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc16(data) == crc16_bitwise(data)


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_python_encoder_matches_golden_vectors(vec):
    assert python_encode(vec).hex() == vec["hex"]


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_golden_vectors_parse_back_to_their_fields(vec):
    raw = bytes.fromhex(vec["hex"])
    assert raw[:2] == b"\xa5\x5a" and raw[2] == 1
    length = struct.unpack_from("<H", raw, 4)[0]
    assert len(raw) == 14 + length
    assert struct.unpack_from("<H", raw, 12 + length)[0] == crc16_bitwise(raw[2 : 12 + length])
    seq, ts = struct.unpack_from("<HI", raw, 6)
    assert (seq, ts) == (vec["seq"], vec["timestamp_us"])
    payload = raw[12 : 12 + length]
    f = vec["fields"]
    if vec["type"] == "info":
        assert raw[3] == FrameType.INFO
        assert parse_info_payload(payload) == info_from_fields(f)
    elif vec["type"] == "data":
        assert raw[3] == FrameType.DATA
        b = parse_data_payload(payload)
        want = block_from_fields(f)
        assert (b.stream_id, b.sample_format, b.sample_index, b.lead_off_mask) == (
            want.stream_id,
            want.sample_format,
            want.sample_index,
            want.lead_off_mask,
        )
        np.testing.assert_array_equal(b.raw, want.raw)
    elif vec["type"] == "decision":
        assert raw[3] == FrameType.DECISION
        assert parse_decision_payload(payload) == decision_from_fields(f)
    else:
        assert raw[3] == FrameType.REQUEST_INFO and length == 0


@pytest.mark.parametrize("fmt", list(SampleFormat))
def test_data_roundtrip_every_format_at_its_extremes(fmt):
    rng = np.random.default_rng(int(fmt))
    if fmt == SampleFormat.FLOAT32:
        raw = rng.normal(0, 1e3, (25, 9)).astype(np.float32)
    else:
        lo, hi = {1: (-(2**15), 2**15 - 1), 2: (-(2**23), 2**23 - 1), 3: (-(2**31), 2**31 - 1)}[fmt]
        raw = rng.integers(lo, hi, (25, 9), endpoint=True)
        raw[0, :2] = lo, hi
    frame = encode_data(DataBlock(4, fmt, 2**32 - 3, 0x1FF, raw), 9, 123)
    b = parse_data_payload(frame[12:-2])
    np.testing.assert_array_equal(b.raw, raw)
    assert b.sample_index == 2**32 - 3 and b.lead_off_mask == 0x1FF and b.stream_id == 4


def test_decision_quantisation_and_abstention():
    d = Decision(0.25, float("nan"), False, True, abstained=True, reason=3, window_end_us=2**33 + 5)
    back = parse_decision_payload(encode_decision(d, 0)[12:-2])
    assert back.p_arousal == pytest.approx(0.25, abs=1 / 65535)
    assert back.p_valence == 0.0  # NaN travels as 0; the abstained flag says it is not valid
    assert back.abstained and back.reason == 3 and back.valence_high and not back.arousal_high
    assert back.window_end_us == 5  # modulo 2^32, as the device clock


def test_decision_reason_parses_to_the_runtime_enum():
    """The reason byte comes back as edge_emotion.decision.AbstainReason, the codes'
    single definition; a code this side does not know reads as OTHER (PROTOCOL.md §3.3)."""
    for reason in AbstainReason:
        d = Decision(0.5, 0.5, False, False, abstained=True, reason=reason)
        back = parse_decision_payload(encode_decision(d, 0)[12:-2])
        assert type(back.reason) is AbstainReason and back.reason is reason
    unknown = Decision(0.5, 0.5, False, False, abstained=True, reason=42)
    back = parse_decision_payload(encode_decision(unknown, 0)[12:-2])
    assert back.reason is AbstainReason.OTHER


def test_the_package_exports_its_connection_errors():
    import edge_emotion.firmware_bridge as fb
    from edge_emotion.firmware_bridge.source import InvalidInfoError
    from edge_emotion.firmware_bridge.transport import ConnectError

    assert fb.ConnectError is ConnectError and fb.InvalidInfoError is InvalidInfoError
    assert {"ConnectError", "InvalidInfoError"} <= set(fb.__all__)


def test_encoders_reject_bad_input_with_named_arguments():
    ch = (ChannelSpec("AF3"),)
    with pytest.raises(ValueError, match="raw"):
        encode_data(DataBlock(0, SampleFormat.INT24, 0, 0, np.array([[2**23]])), 0, 0)
    with pytest.raises(ValueError, match="raw"):
        encode_data(DataBlock(0, SampleFormat.INT16, 0, 0, np.zeros((25, 9), float)), 0, 0)
    with pytest.raises(ValueError, match="raw"):
        encode_data(DataBlock(0, SampleFormat.INT32, 0, 0, np.zeros((255, 32), int)), 0, 0)
    with pytest.raises(ValueError, match="channel name"):
        encode_info(DeviceInfo((StreamSpec(0, 1.0, 2, (ChannelSpec("TOOLONGNAME"),)),)), 0, 0)
    with pytest.raises(ValueError, match="sampling_rate"):
        encode_info(DeviceInfo((StreamSpec(0, 0.0, 2, ch),)), 0, 0)
    with pytest.raises(ValueError, match="role"):
        encode_info(DeviceInfo((StreamSpec(0, 1.0, 2, (ChannelSpec("X", "emg"),)),)), 0, 0)
    with pytest.raises(ValueError, match="unique"):
        encode_info(DeviceInfo((StreamSpec(0, 1.0, 2, ch), StreamSpec(0, 2.0, 2, ch))), 0, 0)
    with pytest.raises(ValueError, match="payload"):
        encode_frame(FrameType.DATA, 0, 0, bytes(2049))
    assert len(encode_frame(FrameType.DATA, 0, 0, bytes(2048))) == MAX_FRAME


def test_parsers_reject_malformed_payloads():
    good = encode_data(DataBlock(0, SampleFormat.INT16, 0, 0, np.zeros((2, 2), int)), 0, 0)
    payload = good[12:-2]
    with pytest.raises(ProtocolError):
        parse_data_payload(payload[:-1])  # length disagrees with n_samples x n_channels
    with pytest.raises(ProtocolError):
        parse_data_payload(bytes([0, 9]) + payload[2:])  # unknown format
    with pytest.raises(ProtocolError):
        parse_info_payload(bytes(10))
    with pytest.raises(ProtocolError):
        parse_decision_payload(bytes(11))
    vec = next(v for v in VECTORS["vectors"] if v["name"] == "info_two_streams")
    info_payload = bytes.fromhex(vec["hex"])[12:-2]
    with pytest.raises(ProtocolError):
        parse_info_payload(info_payload[:-3])  # truncated channel descriptor
    # Fields appended by a later minor revision are ignored.
    assert parse_info_payload(info_payload + b"\x01\x02") == parse_info_payload(info_payload)


def _info_payload() -> bytes:
    vec = next(v for v in VECTORS["vectors"] if v["name"] == "info_two_streams")
    return bytes.fromhex(vec["hex"])[12:-2]


# Offsets in the golden two-stream INFO payload (PROTOCOL.md §3.1).
_RATE0 = 24 + 4  # stream 0: sampling_rate_hz
_CH0 = 24 + 8  # stream 0, channel 0 descriptor


def _patched(offset: int, raw: bytes) -> bytes:
    p = bytearray(_info_payload())
    p[offset : offset + len(raw)] = raw
    return bytes(p)


@pytest.mark.parametrize(
    "offset, raw, field",
    [
        (_CH0 + 12, struct.pack("<f", float("nan")), "scale nan"),
        (_CH0 + 12, struct.pack("<f", float("inf")), "scale inf"),
        (_CH0 + 12, struct.pack("<f", 0.0), "scale 0.0"),
        (_CH0 + 12, struct.pack("<f", -0.5), "scale -0.5"),
        (_RATE0, struct.pack("<f", float("nan")), "sampling_rate_hz nan"),
        (_RATE0, struct.pack("<f", 0.0), "sampling_rate_hz 0.0"),
        (_RATE0, struct.pack("<f", 1e9), "sampling_rate_hz 1000000000.0"),
        (_CH0 + 8, b"\x07", "role 7"),
        (_CH0 + 9, b"\x09", "unit 9"),
        (_CH0, b"\x00" * 8, "non-empty name"),
        (_CH0, b"AF\x013", "printable ASCII"),
        (_CH0, b"AF3\x00\x00X", "printable ASCII"),  # garbage in the NUL padding
        (_CH0 + 16, b"Fp1\x00", "unique"),  # channel 1 renamed to channel 0's name
        (24 + 1, b"\x09", "sample_format 9"),
        (24 + 2, b"\x00", "n_channels 0"),
        (24 + 2, b"\x21", "n_channels 33"),
        (0, b"\x00", "n_streams 0"),
        (0, b"\x05", "n_streams 5"),
        (8, b"\xff", "device_name"),
    ],
)
def test_info_parser_rejects_every_impossible_field_and_names_it(offset, raw, field):
    """A NaN scale used to pass, and NaN != NaN made every later INFO look like a new
    configuration: the source reconnected forever. Now the first INFO is rejected."""
    with pytest.raises(ProtocolError, match=re.escape(field)):
        parse_info_payload(_patched(offset, raw))
    parse_info_payload(_info_payload())  # the unpatched payload is valid


def test_info_parser_bounds_channels_over_all_streams():
    streams = tuple(
        StreamSpec(k, 250.0, SampleFormat.INT24, tuple(ChannelSpec(f"C{i}") for i in range(32)))
        for k in range(2)
    )
    payload = bytearray(encode_info(DeviceInfo(streams), 0, 0)[12:-2])
    assert parse_info_payload(bytes(payload)).streams[1].channels[31].name == "C31"
    # A third stream of one channel would make 65 > 64 channels in all.
    payload[0] = 3
    payload += struct.pack("<BBBBf", 9, 2, 1, 25, 250.0) + b"X".ljust(8, b"\0") + bytes(8)
    with pytest.raises(ProtocolError, match="65 channels"):
        parse_info_payload(bytes(payload))


def test_info_encoder_refuses_what_the_parser_would_reject():
    nan = ChannelSpec("AF3", scale=float("nan"))
    with pytest.raises(ValueError, match="scale"):
        encode_info(DeviceInfo((StreamSpec(0, 250.0, 2, (nan,)),)), 0, 0)
    with pytest.raises(ValueError, match="sampling_rate"):
        encode_info(DeviceInfo((StreamSpec(0, 1e6, 2, (ChannelSpec("A"),)),)), 0, 0)
    twice = (ChannelSpec("A"), ChannelSpec("A"))
    with pytest.raises(ValueError, match="unique"):
        encode_info(DeviceInfo((StreamSpec(0, 250.0, 2, twice),)), 0, 0)
