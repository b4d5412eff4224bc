"""The wire between a custom wearable's microcontroller and the host (PROTOCOL.md).

- ``protocol``: the vocabulary of protocol version 1 (sizes, codes, CRC, typed values);
- ``codec``: frame and payload encoders, payload parsers that validate every field;
- ``framing``: finding CRC-valid frames in a damaged byte stream (:class:`FrameDecoder`);
- ``decoder``: interpreting them with exact loss accounting (:class:`HostDecoder`);
- ``transport`` / ``source``: serial or TCP link as an :class:`edge_emotion.source.Source`
  (``open_bridge_source("bridge:/dev/ttyACM0")``), raising :class:`ConnectError` when the
  device cannot be reached and :class:`InvalidInfoError` when it describes itself wrongly;
- ``downlink``: decisions back to the device;
- ``emulator`` (device model and command line) and ``emulator_endpoints`` (TCP, pty):
  a device without hardware;
- ``c/``: the C99 encoder/decoder for the firmware (``ebridge.h``, ``ebridge.c``).
"""

from edge_emotion.firmware_bridge.decoder import DecoderStats, HostDecoder
from edge_emotion.firmware_bridge.framing import FrameDecoder
from edge_emotion.firmware_bridge.protocol import (
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    FrameType,
    SampleFormat,
    StreamSpec,
)
from edge_emotion.firmware_bridge.source import (
    BridgeConfig,
    BridgeSource,
    InvalidInfoError,
    open_bridge_source,
)
from edge_emotion.firmware_bridge.transport import ConnectError

__all__ = [
    "BridgeConfig",
    "BridgeSource",
    "ChannelSpec",
    "ConnectError",
    "DataBlock",
    "Decision",
    "DecoderStats",
    "DeviceInfo",
    "FrameDecoder",
    "FrameType",
    "HostDecoder",
    "InvalidInfoError",
    "SampleFormat",
    "StreamSpec",
    "open_bridge_source",
]
