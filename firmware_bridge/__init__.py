"""The wire between a custom wearable's microcontroller and the host (PROTOCOL.md).

- ``protocol``: frame layouts, encoders and payload parsers (protocol version 1);
- ``decoder``: the incremental host receiver with exact loss accounting;
- ``transport`` / ``source``: serial or TCP link as an :class:`edge_emotion.source.Source`
  (``open_bridge_source("bridge:/dev/ttyACM0")``);
- ``downlink``: decisions back to the device; ``emulator``: a device on a socket or pty;
- ``c/``: the C99 encoder/decoder for the firmware (``ebridge.h``, ``ebridge.c``).
"""

from edge_emotion.firmware_bridge.decoder import DecoderStats, FrameDecoder, HostDecoder
from edge_emotion.firmware_bridge.protocol import (
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    FrameType,
    SampleFormat,
    StreamSpec,
)
from edge_emotion.firmware_bridge.source import BridgeConfig, BridgeSource, open_bridge_source

__all__ = [
    "BridgeConfig",
    "BridgeSource",
    "ChannelSpec",
    "DataBlock",
    "Decision",
    "DecoderStats",
    "DeviceInfo",
    "FrameDecoder",
    "FrameType",
    "HostDecoder",
    "SampleFormat",
    "StreamSpec",
    "open_bridge_source",
]
