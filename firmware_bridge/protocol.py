"""The vocabulary of the firmware bridge protocol (``PROTOCOL.md``, version 1): sizes and
limits, frame types, sample formats, role and unit codes, the CRC, and the typed values
frames carry (:class:`DeviceInfo` and its streams, :class:`DataBlock`, :class:`Decision`).

Bytes <-> these values: :mod:`edge_emotion.firmware_bridge.codec`. Frames found in a
byte stream: :mod:`edge_emotion.firmware_bridge.framing`; interpreted, with loss
accounting: :mod:`edge_emotion.firmware_bridge.decoder`.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

# The DECISION frame's reason byte is the runtime's abstention code, defined once.
from edge_emotion.decision import AbstainReason

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER_SIZE = 12
CRC_SIZE = 2
MAX_PAYLOAD = 2048
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_STREAMS = 4
MAX_CHANNELS_PER_STREAM = 32
MAX_CHANNELS_TOTAL = 64
MAX_SAMPLES_PER_FRAME = 255
DATA_HEADER_SIZE = 12
INFO_HEADER_SIZE = 24
STREAM_DESC_SIZE = 8
CHANNEL_DESC_SIZE = 16
DECISION_SIZE = 12
NAME_SIZE = 8
DEVICE_NAME_SIZE = 16
# Sampling rates a receiver accepts in INFO (PROTOCOL.md §3.1). Buffers downstream are
# sized from the rate, so a rate read from the wire must be bounded like any length.
MIN_SAMPLING_RATE_HZ = 0.01
MAX_SAMPLING_RATE_HZ = 32768.0


class FrameType(IntEnum):
    INFO = 0x01
    DATA = 0x02
    DECISION = 0x03
    REQUEST_INFO = 0x04


class SampleFormat(IntEnum):
    INT16 = 1
    INT24 = 2
    INT32 = 3
    FLOAT32 = 4

    @property
    def size(self) -> int:
        """Bytes per sample on the wire."""
        return _FORMAT_SIZE[self]


_FORMAT_SIZE = {
    SampleFormat.INT16: 2,
    SampleFormat.INT24: 3,
    SampleFormat.INT32: 4,
    SampleFormat.FLOAT32: 4,
}
ROLE_CODES = {"other": 0, "eeg": 1, "ecg": 2}
ROLE_NAMES = {v: k for k, v in ROLE_CODES.items()}
UNIT_CODES = {"uV": 0, "mV": 1, "V": 2, "counts": 3}
UNIT_NAMES = {v: k for k, v in UNIT_CODES.items()}


class ProtocolError(ValueError):
    """A payload does not follow PROTOCOL.md (the decoder counts these; it never raises)."""


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0).

    ``binascii.crc_hqx`` is exactly this polynomial without reflection; with init 0xFFFF
    it is CCITT-FALSE (check value of b"123456789" is 0x29B1).
    """
    return binascii.crc_hqx(data, crc)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ChannelSpec:
    """One channel as the device describes it; physical value = raw × ``scale`` [unit]."""

    name: str
    role: str = "eeg"
    unit: str = "uV"
    scale: float = 1.0


@dataclass(frozen=True)
class StreamSpec:
    """A group of channels sampled together at ``sampling_rate`` Hz."""

    stream_id: int
    sampling_rate: float
    sample_format: SampleFormat
    channels: tuple[ChannelSpec, ...]
    samples_per_frame: int = 25

    @property
    def scales(self) -> np.ndarray:
        return np.array([c.scale for c in self.channels], dtype=np.float64)


@dataclass(frozen=True)
class DeviceInfo:
    """Contents of an INFO frame."""

    streams: tuple[StreamSpec, ...]
    device_id: int = 0
    firmware_version: int = 0
    name: str = ""

    def stream(self, stream_id: int) -> StreamSpec | None:
        for s in self.streams:
            if s.stream_id == stream_id:
                return s
        return None


@dataclass(frozen=True)
class Frame:
    """One frame that passed the CRC; ``payload`` not yet interpreted."""

    type: int
    seq: int
    timestamp_us: int
    payload: bytes
    version: int = VERSION
    crc: int = 0  # as received; with ``seq`` it tells a repeated frame from a new one


@dataclass(frozen=True)
class DataBlock:
    """Contents of a DATA frame: ``raw`` is (n_samples, n_channels), int32 or float32."""

    stream_id: int
    sample_format: SampleFormat
    sample_index: int
    lead_off_mask: int
    raw: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.raw.shape[0])


@dataclass(frozen=True)
class Decision:
    """Contents of a DECISION frame; probabilities of the high class in [0, 1]."""

    p_arousal: float
    p_valence: float
    arousal_high: bool
    valence_high: bool
    abstained: bool = False
    reason: AbstainReason = AbstainReason.NONE
    window_end_us: int = 0
