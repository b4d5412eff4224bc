"""The emulated device: streams a recording through the bridge protocol, like a wearable.

It plays EEG and ECG (simulated, or arrays from an ``.npz``) as a device would: an INFO
frame at start, on request and every ``info_interval_s``; DATA frames of
``samples_per_frame`` samples paced in real time (``speed`` > 1 plays faster; 0 as fast
as the link takes them); DECISION frames from the host are decoded and counted. It can
inject faults (dropped frames, corrupted bytes) and records exactly what it dropped, so a
test can compare with what the host counted.

Where it meets a host (a TCP socket on 127.0.0.1, or a pseudo-terminal):
:mod:`edge_emotion.firmware_bridge.emulator_endpoints`; the command line:
:mod:`edge_emotion.firmware_bridge.emulator`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from edge_emotion.firmware_bridge.codec import encode_data, encode_info
from edge_emotion.firmware_bridge.decoder import DecisionEvent, HostDecoder, RequestInfoEvent
from edge_emotion.firmware_bridge.protocol import (
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    SampleFormat,
    StreamSpec,
)
from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS
from edge_emotion.synthetic import synthetic_ecg

# ADS1299 LSB in µV at PGA gain g: 4.5 V reference / g / 2^23, rounded to float32 because
# that is what travels in INFO.
EEG_SCALE_UV = float(np.float32(4.5 / 24 / 2**23 * 1e6))
ECG_SCALE_UV = float(np.float32(4.5 / 6 / 2**23 * 1e6))
_INT24 = (-(2**23), 2**23 - 1)


@dataclass(frozen=True)
class EmulatorConfig:
    """What the emulated device streams and how."""

    eeg_names: tuple[str, ...] = EMOTIV_EPOC_CHANNELS  # the AMIGOS recordings' electrodes
    eeg_fs: float = 128.0
    ecg_fs: float = 128.0
    samples_per_frame: int = 16
    speed: float = 1.0
    drop_prob: float = 0.0
    corrupt_prob: float = 0.0
    info_interval_s: float = 1.0
    clock_start_us: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.eeg_names or any(len(n.encode()) > 8 for n in self.eeg_names):
            raise ValueError("eeg_names: expected 1..32 names of at most 8 ASCII characters")
        if len(self.eeg_names) > 32:
            raise ValueError("eeg_names: at most 32 EEG channels in one stream")
        if not (self.eeg_fs > 0 and self.ecg_fs > 0):
            raise ValueError("eeg_fs, ecg_fs: expected sampling rates > 0 Hz")
        if not 1 <= self.samples_per_frame <= 255:
            raise ValueError("samples_per_frame: expected 1..255")
        if self.speed < 0:
            raise ValueError("speed: expected >= 0 (0 = as fast as possible)")
        if not (0 <= self.drop_prob < 1 and 0 <= self.corrupt_prob < 1):
            raise ValueError("drop_prob, corrupt_prob: expected probabilities in [0, 1)")


def device_info(config: EmulatorConfig) -> DeviceInfo:
    """Stream 0: EEG (int24, µV); stream 1: one ECG lead (int24, µV)."""
    eeg = StreamSpec(
        0,
        config.eeg_fs,
        SampleFormat.INT24,
        tuple(ChannelSpec(n, "eeg", "uV", EEG_SCALE_UV) for n in config.eeg_names),
        config.samples_per_frame,
    )
    ecg = StreamSpec(
        1,
        config.ecg_fs,
        SampleFormat.INT24,
        (ChannelSpec("ECG", "ecg", "uV", ECG_SCALE_UV),),
        config.samples_per_frame,
    )
    return DeviceInfo((eeg, ecg), device_id=0xEE01, firmware_version=0x0100, name="emulator")


def simulate_recording(config: EmulatorConfig, duration_s: float = 60.0) -> dict[int, np.ndarray]:
    """A plausible recording in µV: EEG = pink-ish noise + 10 Hz alpha (~20 µV RMS);
    ECG = :func:`edge_emotion.synthetic.synthetic_ecg` at 70 bpm (~1 mV R peaks)."""
    rng = np.random.default_rng(config.seed)
    n_eeg = round(duration_s * config.eeg_fs)
    t = np.arange(n_eeg) / config.eeg_fs
    white = rng.standard_normal((len(config.eeg_names), n_eeg))
    # A leaky integrator (pole at 0.95) gives a 1/f-like spectrum above ~1 Hz.
    pink = lfilter([1.0], [1.0, -0.95], white, axis=1)
    pink -= pink.mean(axis=1, keepdims=True)
    phase = rng.uniform(0, 2 * np.pi, (len(config.eeg_names), 1))
    alpha = 8.0 * np.sin(2 * np.pi * 10.0 * t + phase)
    eeg = 4.0 * pink + alpha

    ecg, _ = synthetic_ecg(duration_s, config.ecg_fs, rng, heart_rate_bpm=70.0)
    return {0: eeg, 1: ecg[None, :]}


@dataclass
class EmulatorReport:
    """What the device did. ``lost_frames`` lists (stream id, sample index, n samples) of
    every DATA frame it dropped or corrupted: what an exact host must count as lost."""

    frames_sent: int = 0
    frames_dropped: int = 0
    frames_corrupted: int = 0
    info_sent: int = 0
    samples_sent: dict[int, int] = field(default_factory=dict)
    samples_dropped: dict[int, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    requests: int = 0
    lost_frames: list[tuple[int, int, int]] = field(default_factory=list)
    clients: int = 0  # TCP connections served
    bytes_unsent: int = 0  # made while no host was connected (the device ran on)

    def summary(self) -> str:
        return (
            f"emulator: sent {self.frames_sent} frames ({self.info_sent} INFO), dropped "
            f"{self.frames_dropped} (samples {self.samples_dropped}), corrupted "
            f"{self.frames_corrupted}; received {len(self.decisions)} decisions, "
            f"{self.requests} info requests; {self.clients} client(s)"
        )


class DeviceEmulator:
    """Plays ``signals`` ({stream_id: (channels, n) physical units}) as DATA frames."""

    def __init__(self, config: EmulatorConfig, signals: dict[int, np.ndarray] | None = None):
        self.config = config
        self.info = device_info(config)
        self.signals = signals if signals is not None else simulate_recording(config)
        self._raw: dict[int, np.ndarray] = {}
        for s in self.info.streams:
            if s.stream_id not in self.signals:
                raise ValueError(f"signals: no array for stream {s.stream_id}")
            sig = np.asarray(self.signals[s.stream_id], dtype=np.float64)
            if sig.ndim != 2 or sig.shape[0] != len(s.channels) or sig.shape[1] < 1:
                raise ValueError(
                    f"signals[{s.stream_id}]: expected ({len(s.channels)}, n) samples in µV, "
                    f"got shape {sig.shape}"
                )
            counts = np.round(np.nan_to_num(sig) / s.scales[:, None])
            self._raw[s.stream_id] = np.clip(counts, *_INT24).astype(np.int32).T.copy()
        self._rng = np.random.default_rng(config.seed + 1)
        self._seq = 0
        self.report = EmulatorReport()
        self._downlink = HostDecoder(max_payload=64)
        self.now_s = 0.0  # device time of the frame being sent (endpoints stamp INFO with it)

    def _seq_next(self) -> int:
        s = self._seq
        self._seq = (s + 1) & 0xFFFF
        return s

    def _now_us(self, t_s: float) -> int:
        return (self.config.clock_start_us + round(t_s * 1e6)) & 0xFFFFFFFF

    def info_frame(self, t_s: float) -> bytes:
        self.report.info_sent += 1
        self.report.frames_sent += 1
        return encode_info(self.info, self._seq_next(), self._now_us(t_s))

    def schedule(self, duration_s: float) -> list[tuple[float, int, int]]:
        """(device time s of the first sample, stream id, sample index) of every DATA
        frame in ``duration_s``, in time order; the recording loops if shorter."""
        out = []
        spf = self.config.samples_per_frame
        for s in self.info.streams:
            n_total = int(duration_s * s.sampling_rate) // spf * spf
            out += [(i / s.sampling_rate, s.stream_id, i) for i in range(0, n_total, spf)]
        out.sort()
        return out

    def data_frame(self, t_s: float, stream_id: int, index: int) -> bytes | None:
        """The frame, or None if the fault injector dropped it (its seq is still used)."""
        raw = self._raw[stream_id]
        spf = self.config.samples_per_frame
        rows = np.arange(index, index + spf) % raw.shape[0]
        seq = self._seq_next()
        if self.config.drop_prob and self._rng.random() < self.config.drop_prob:
            self.report.frames_dropped += 1
            self.report.lost_frames.append((stream_id, index, spf))
            self.report.samples_dropped[stream_id] = (
                self.report.samples_dropped.get(stream_id, 0) + spf
            )
            return None
        block = DataBlock(stream_id, SampleFormat.INT24, index, 0, raw[rows])
        frame = encode_data(block, seq, self._now_us(t_s))
        if self.config.corrupt_prob and self._rng.random() < self.config.corrupt_prob:
            # A flipped bit: the host must reject the frame and count its samples lost.
            buf = bytearray(frame)
            pos = int(self._rng.integers(0, len(buf)))
            buf[pos] ^= 1 << int(self._rng.integers(0, 8))
            frame = bytes(buf)
            self.report.frames_corrupted += 1
            self.report.lost_frames.append((stream_id, index, spf))
        self.report.frames_sent += 1
        self.report.samples_sent[stream_id] = self.report.samples_sent.get(stream_id, 0) + spf
        return frame

    def handle_downlink(self, data: bytes, t_s: float, decoder: HostDecoder | None = None) -> bytes:
        """Decodes host frames; returns what the device answers (INFO on request).
        ``decoder``: one per host when several are connected (each is its own stream)."""
        reply = b""
        for ev in (decoder or self._downlink).feed(data):
            if isinstance(ev, DecisionEvent):
                self.report.decisions.append(ev.decision)
            elif isinstance(ev, RequestInfoEvent):
                self.report.requests += 1
                reply += self.info_frame(t_s)
        return reply

    def run(
        self,
        write: Callable[[bytes], None],
        read: Callable[[], bytes],
        duration_s: float,
        stop: threading.Event | None = None,
    ) -> EmulatorReport:
        """Streams for ``duration_s`` of device time (wall time = duration / speed)."""
        speed = self.config.speed
        t_wall0 = time.monotonic()
        write(self.info_frame(0.0))
        next_info = self.config.info_interval_s
        for t_s, sid, index in self.schedule(duration_s):
            if stop is not None and stop.is_set():
                break
            self.now_s = t_s
            if speed > 0:
                delay = t_wall0 + t_s / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            out = self.handle_downlink(read(), t_s)
            if t_s >= next_info:
                out += self.info_frame(t_s)
                next_info += self.config.info_interval_s
            frame = self.data_frame(t_s, sid, index)
            if frame is not None:
                out += frame
            write(out)
        self.handle_downlink(read(), duration_s)
        return self.report
