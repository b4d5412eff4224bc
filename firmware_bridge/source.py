"""A custom wearable on the firmware bridge as a :class:`~edge_emotion.source.Source`.

Spec strings (what ``--source`` takes)::

    bridge:/dev/ttyACM0                 serial port, 921600 baud
    bridge:/dev/ttyUSB0?baud=115200     serial port, other baud rate
    bridge:tcp://127.0.0.1:7777         TCP (a Wi-Fi device, or the emulator)
    ...?info_timeout=5                  seconds to wait for the device's INFO frame

Lifecycle: ``start`` opens the transport, asks for the device description (REQUEST_INFO)
and returns one :class:`StreamInfo` per stream of the device; ``read`` returns chunks in
physical units with the device's timestamps and ``lost_samples`` counted exactly from
``sample_index`` gaps; ``stop`` closes the transport. :meth:`BridgeSource.send_decision`
writes DECISION frames back on the same link.

Errors: ``start`` raises :class:`ConnectError` when the link cannot be opened (wrong
port or address) or the device gives no INFO frame in time, and its subclass
:class:`InvalidInfoError` at once when the device's INFO is invalid (e.g. a NaN scale:
no retry fixes that); a link that fails later raises plain :class:`SourceError`.

Each chunk's ``meta``: ``sample_index`` of its first sample; ``lead_off_mask`` (OR of
its frames'); ``gap_s``, the duration of its ``lost_samples`` at the stream's rate;
``discontinuity``, true when the stream's index stepped back (device restart) or jumped
further ahead than the device could have sampled since the previous frame arrived
(PROTOCOL.md §3.2; a resync: nothing is counted lost, continuity is unknown);
``index_jump``, that step in samples (signed), else 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import numpy as np

from edge_emotion.firmware_bridge.codec import encode_decision, encode_request_info
from edge_emotion.firmware_bridge.decoder import (
    DataEvent,
    DecoderStats,
    HostDecoder,
    InfoEvent,
    InvalidInfoEvent,
)
from edge_emotion.firmware_bridge.protocol import Decision, DeviceInfo
from edge_emotion.firmware_bridge.transport import (
    ConnectError,
    SerialTransport,
    TcpTransport,
    Transport,
)
from edge_emotion.source import ChannelInfo, Chunk, FatalSourceError, SourceError, StreamInfo

SCHEME = "bridge:"

__all__ = [
    "BridgeConfig",
    "BridgeSource",
    "ConnectError",
    "InvalidInfoError",
    "open_bridge_source",
    "parse_bridge_spec",
]


class InvalidInfoError(ConnectError, FatalSourceError):
    """The device's INFO frame passed the CRC but is invalid (PROTOCOL.md §3.1): the
    message names the field. The device describes itself this way every time, so a
    retry does not help: a :class:`FatalSourceError`, the run stops."""


@dataclass(frozen=True)
class BridgeConfig:
    """Where the device is and how long to wait for it."""

    target: str
    baud: int = 921600
    info_timeout_s: float = 3.0
    read_size: int = 1 << 16

    def __post_init__(self) -> None:
        if not self.target:
            raise ValueError("target: expected a serial port path or tcp://host:port")
        if self.baud <= 0:
            raise ValueError(f"baud: expected a positive baud rate, got {self.baud}")
        if not self.info_timeout_s > 0:
            raise ValueError(f"info_timeout_s: expected > 0 s, got {self.info_timeout_s}")


def parse_bridge_spec(spec: str) -> BridgeConfig:
    """``bridge:TARGET[?baud=N&info_timeout=S]`` -> :class:`BridgeConfig`."""
    if not isinstance(spec, str) or not spec.startswith(SCHEME):
        raise ValueError(f"spec: expected 'bridge:<port or tcp://host:port>', got {spec!r}")
    rest = spec[len(SCHEME) :]
    target, _, query = rest.partition("?")
    opts = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(opts) - {"baud", "info_timeout"}
    if unknown:
        raise ValueError(f"spec: unknown option(s) {sorted(unknown)}; known: baud, info_timeout")
    try:
        baud = int(opts.get("baud", 921600))
        info_timeout = float(opts.get("info_timeout", 3.0))
    except ValueError as exc:
        raise ValueError(f"spec: bad option value in {spec!r}: {exc}") from exc
    if target.startswith("tcp://"):
        host, sep, port = target[len("tcp://") :].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"spec: expected tcp://host:port, got {target!r}")
    return BridgeConfig(target=target, baud=baud, info_timeout_s=info_timeout)


def open_transport(config: BridgeConfig) -> Transport:
    if config.target.startswith("tcp://"):
        host, _, port = config.target[len("tcp://") :].rpartition(":")
        return TcpTransport(host.strip("[]"), int(port))
    return SerialTransport(config.target, config.baud)


def _stream_info(info: DeviceInfo) -> tuple[StreamInfo, ...]:
    return tuple(
        StreamInfo(
            sampling_rate=s.sampling_rate,
            channels=tuple(
                ChannelInfo(c.name, c.role if c.role in ("eeg", "ecg") else "other", c.unit)
                for c in s.channels
            ),
        )
        for s in info.streams
    )


class BridgeSource:
    """Reads a device speaking PROTOCOL.md. ``transport_factory`` replaces the default
    (serial/TCP from ``config.target``), e.g. for tests."""

    def __init__(
        self,
        config: BridgeConfig,
        transport_factory: Callable[[BridgeConfig], Transport] = open_transport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._factory = transport_factory
        self._clock = clock
        self._ever_started = False
        self._transport: Transport | None = None
        self.decoder = HostDecoder()
        self.device_info: DeviceInfo | None = None
        self._streams: tuple[StreamInfo, ...] = ()
        self._index: dict[int, int] = {}
        self._scales: dict[int, np.ndarray] = {}
        self._pending_lost: dict[int, int] = {}
        self._backlog: list = []
        self._pending_error: SourceError | None = None
        self._seq = 0
        self._ts_last: int | None = None
        self._ts_base = 0
        self.rejected_frames = 0

    @property
    def stats(self) -> DecoderStats:
        return self.decoder.stats

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> tuple[StreamInfo, ...]:
        if self._transport is not None:
            self.stop()
        self.decoder = HostDecoder()
        self._pending_lost = {}
        self._backlog = []
        self._pending_error = None
        self._ts_last = None
        first = not self._ever_started
        try:
            self._transport = self._factory(self.config)
        except SourceError as exc:
            raise ConnectError(
                f"bridge {self.config.target}: {exc}", self.config.target, first
            ) from exc
        try:
            streams = self._await_info(first)
        except ConnectError:
            self.stop()
            raise
        except SourceError as exc:
            self.stop()
            raise ConnectError(
                f"bridge {self.config.target}: the link failed before the device sent its "
                f"INFO frame: {exc}",
                self.config.target,
                first,
            ) from exc
        except BaseException:
            self.stop()
            raise
        self._ever_started = True
        return streams

    def _await_info(self, first: bool) -> tuple[StreamInfo, ...]:
        assert self._transport is not None
        deadline = time.monotonic() + self.config.info_timeout_s
        next_request = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise ConnectError(
                    f"bridge {self.config.target}: no INFO frame within "
                    f"{self.config.info_timeout_s} s (expected a device speaking protocol "
                    "v1 at this baud rate)",
                    self.config.target,
                    first,
                )
            if now >= next_request:
                self._write(encode_request_info(self._next_seq()))
                next_request = now + 0.5
            data = self._transport.read(self.config.read_size, min(0.1, deadline - now))
            events = self.decoder.feed(data, self._clock())
            for k, ev in enumerate(events):
                if isinstance(ev, InvalidInfoEvent):
                    raise InvalidInfoError(
                        f"bridge {self.config.target}: the device's INFO frame is invalid: "
                        f"{ev.error}",
                        self.config.target,
                        first,
                    )
                if isinstance(ev, InfoEvent):
                    self._configure(ev.info)
                    # Frames that came in the same read after INFO belong to the stream.
                    self._backlog = events[k + 1 :]
                    return self._streams

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        if self._transport is None:
            raise SourceError("bridge: read() before start()")
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        data = b""
        try:
            data = self._transport.read(self.config.read_size, 0.0 if self._backlog else timeout_s)
            # Drain what else has arrived, without waiting, so chunks are not starved.
            for _ in range(16):
                more = self._transport.read(self.config.read_size, 0.0) if data else b""
                if not more:
                    break
                data += more
        except SourceError as exc:
            # Deliver what arrived before the link failed; report the failure next call.
            if not data and not self._backlog:
                raise
            self._pending_error = exc
        events = self._backlog + (self.decoder.feed(data, self._clock()) if data else [])
        self._backlog = []
        return self._chunks(events)

    def stop(self) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            finally:
                self._transport = None

    def send_decision(self, decision: Decision, timestamp_us: int = 0) -> None:
        """Write one DECISION frame to the device."""
        self._write(encode_decision(decision, self._next_seq(), timestamp_us))

    # ------------------------------------------------------------------ internals

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        return seq

    def _write(self, data: bytes) -> None:
        if self._transport is None:
            raise SourceError("bridge: not started")
        self._transport.write(data)

    def _configure(self, info: DeviceInfo) -> None:
        self.device_info = info
        self._streams = _stream_info(info)
        self._index = {s.stream_id: i for i, s in enumerate(info.streams)}
        self._scales = {s.stream_id: s.scales for s in info.streams}

    def _unwrap_us(self, ts: int) -> int:
        if self._ts_last is not None and ((ts - self._ts_last) & 0xFFFFFFFF) >= 0x80000000:
            pass  # a small step backwards (jitter, reordering): no wrap
        elif self._ts_last is not None and ts < self._ts_last:
            self._ts_base += 1 << 32
        self._ts_last = ts
        return self._ts_base + ts

    def _chunks(self, events: list) -> list[Chunk]:
        parts: list[_Pending] = []
        current: dict[int, _Pending] = {}  # stream id -> chunk being extended
        for ev in events:
            if isinstance(ev, InvalidInfoEvent):
                raise InvalidInfoError(
                    f"bridge {self.config.target}: the device sent an invalid INFO frame: "
                    f"{ev.error}",
                    self.config.target,
                    first_attempt=False,
                )
            if isinstance(ev, InfoEvent):
                # Validated INFO holds no NaN, so an unchanged device compares equal.
                if ev.info != self.device_info:
                    raise SourceError(
                        "bridge: the device changed its configuration (new INFO frame); "
                        "restart the source"
                    )
                continue
            if not isinstance(ev, DataEvent):
                continue
            b = ev.block
            sid = b.stream_id
            spec = self.device_info.stream(sid) if self.device_info else None
            if (
                spec is None
                or spec.sample_format != b.sample_format
                or len(spec.channels) != b.raw.shape[1]
            ):
                # Not what INFO announced: the samples cannot be placed; count them lost.
                self.rejected_frames += 1
                lost_here = ev.lost_before + b.n_samples
                self._pending_lost[sid] = self._pending_lost.get(sid, 0) + lost_here
                current.pop(sid, None)
                continue
            lost = ev.lost_before + self._pending_lost.pop(sid, 0)
            t0 = self._unwrap_us(ev.frame.timestamp_us) * 1e-6
            cur = current.get(sid)
            if cur is None or lost or ev.discontinuity:
                cur = _Pending(
                    self._index[sid],
                    lost,
                    b.sample_index,
                    ev.discontinuity,
                    ev.jump,
                    lost / spec.sampling_rate,
                )
                current[sid] = cur
                parts.append(cur)
            cur.data.append(b.raw.T * self._scales[sid][:, None])
            cur.timestamps.append(t0 + np.arange(b.n_samples) / spec.sampling_rate)
            cur.lead_off_mask |= b.lead_off_mask
        return [
            Chunk(
                stream=p.stream,
                data=np.concatenate(p.data, axis=1),
                timestamps=np.concatenate(p.timestamps),
                lost_samples=p.lost,
                meta={
                    "sample_index": p.sample_index,
                    "lead_off_mask": p.lead_off_mask,
                    "gap_s": p.gap_s,
                    "discontinuity": p.discontinuity,
                    "index_jump": p.index_jump,
                },
            )
            for p in parts
        ]


@dataclass
class _Pending:
    stream: int
    lost: int
    sample_index: int
    discontinuity: bool
    index_jump: int
    gap_s: float
    lead_off_mask: int = 0
    data: list = field(default_factory=list)
    timestamps: list = field(default_factory=list)


def open_bridge_source(spec: str) -> BridgeSource:
    """``open_bridge_source("bridge:/dev/ttyACM0?baud=921600")`` (not started yet)."""
    return BridgeSource(parse_bridge_spec(spec))
