"""A soak of the whole device path on a fake clock: the device emulator's frames through
the real BridgeSource, the run loop and the classifier, for 20 minutes of device time,
with a source that misbehaves on a schedule — index jumps, duplicated and reordered
frames, a link cut mid-frame (and a device that takes two tries to come back), and at
the end an INFO frame with a NaN scale — then a sink on a full disk.

Asserts: one record per hop and one GAP record per break (none for duplicates or
reordering), flat traced memory, the loop alive until the fatal INFO, and clean,
explained stops (``ended_by``, ``failed``) for the fatal INFO and the full disk.
"""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.decision import AbstainReason
from edge_emotion.firmware_bridge.codec import encode_frame, encode_info
from edge_emotion.firmware_bridge.emulated_device import (
    DeviceEmulator,
    EmulatorConfig,
    simulate_recording,
)
from edge_emotion.firmware_bridge.protocol import FrameType
from edge_emotion.firmware_bridge.source import BridgeConfig, BridgeSource
from edge_emotion.loop import run
from edge_emotion.source import SourceError

DURATION_S = 1200.0
READ_S = 0.1  # device time per transport read
DUPLICATE_EVERY_S = 20.0
REORDER_EVERY_S = 35.0
INDEX_JUMPS = (180.0, 620.0, 900.0)
CUTS = (300.0, 660.0, 1020.0)
NAN_INFO = 1190.0
# After the first cut and index jump (their first-time allocations are not growth), and
# so that the index jump at 620 s allocates the restarted stream's filters under tracing
# and the cut at 660 s replaces them: a restart must not grow memory either.
TRACE = (610.0, 640.0, 700.0)  # start tracing; first and last memory reading (s)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _nan_info(emulator: DeviceEmulator) -> bytes:
    """The emulator's INFO with channel 0's scale NaN (the encoder refuses to write one)."""
    s0 = emulator.info.streams[0]
    marked = dataclasses.replace(s0.channels[0], scale=1234.5)
    info = dataclasses.replace(
        emulator.info,
        streams=(
            dataclasses.replace(s0, channels=(marked, *s0.channels[1:])),
            *emulator.info.streams[1:],
        ),
    )
    payload = bytearray(encode_info(info, 0, 0)[12:-2])
    at = bytes(payload).index(np.float32(1234.5).tobytes())
    payload[at : at + 4] = np.float32(np.nan).tobytes()
    return encode_frame(FrameType.INFO, 7, 0, bytes(payload))


class Device:
    """The emulated device on the fake clock; hands out a link per connection."""

    def __init__(self, clock: Clock) -> None:
        cfg = EmulatorConfig(seed=5)
        self.emulator = DeviceEmulator(cfg, simulate_recording(cfg, 120.0))
        self.clock = clock
        self.schedule = self.emulator.schedule(DURATION_S)
        self.pos = 0
        self.offset = 0
        self.events = sorted(
            [(t, "jump") for t in INDEX_JUMPS]
            + [(t, "cut") for t in CUTS]
            + [(t, "dup") for t in np.arange(DUPLICATE_EVERY_S, DURATION_S, DUPLICATE_EVERY_S)]
            + [(t, "swap") for t in np.arange(REORDER_EVERY_S, DURATION_S, REORDER_EVERY_S)]
            + [(NAN_INFO, "nan_info")]
        )
        self.done = 0
        self.refuse = 0  # connection attempts to refuse (a device slow to come back)
        self.connections = 0
        self.sent = {"dup": 0, "swap": 0}

    def connect(self, _config) -> Link:
        if self.refuse:
            self.refuse -= 1
            raise SourceError("device not answering (simulated)")
        self.connections += 1
        # Frames sampled while nobody listened are gone.
        while self.pos < len(self.schedule) and self.schedule[self.pos][0] < self.clock.t:
            self.pos += 1
        return Link(self)

    def frames_until(self, t_end: float, link: Link) -> bytes:
        out: list[bytes] = []
        held = None
        em = self.emulator
        while self.pos < len(self.schedule) and self.schedule[self.pos][0] < t_end:
            t, sid, idx = self.schedule[self.pos]
            self.pos += 1
            kinds = []
            while self.done < len(self.events) and self.events[self.done][0] <= t:
                kinds.append(self.events[self.done][1])
                self.done += 1
            if "jump" in kinds:
                self.offset = (self.offset + 2**31 - 1) & 0xFFFFFFFF
            frame = em.data_frame(t, sid, (idx + self.offset) & 0xFFFFFFFF)
            if "nan_info" in kinds:
                out.append(_nan_info(em))
            if "cut" in kinds:
                out.append(frame[: len(frame) // 2])
                link.broken = True
                self.refuse = 2
                break
            if "swap" in kinds and sid == 0:
                held = frame
                self.sent["swap"] += 1
                continue
            out.append(frame)
            if "dup" in kinds:
                out.append(frame)
                self.sent["dup"] += 1
            if held is not None and sid == 0:
                out.append(held)  # the held frame arrives after a later one of its stream
                held = None
        if held is not None:
            out.append(held)
        return b"".join(out)


class Link:
    def __init__(self, device: Device) -> None:
        self.device = device
        self.sent_info = False
        self.broken = False
        self.fail_next = False
        self.idle = True

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        dev = self.device
        if not self.sent_info:
            self.sent_info = True
            return dev.emulator.info_frame(dev.clock.t)
        if self.broken:
            raise SourceError("the device closed the connection (simulated cut)")
        # Every other read is empty: the source drains until a read comes back empty.
        self.idle = not self.idle
        if self.idle:
            return b""
        t_end = dev.clock.t + READ_S
        data = dev.frames_until(t_end, self)
        dev.clock.t = t_end
        return data

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class Log:
    """Preallocated per-record arrays (the log itself does not grow)."""

    def __init__(self, n: int, clock: Clock) -> None:
        self.clock = clock
        self.hop = np.full(n, -1, dtype=np.int64)
        self.end = np.zeros(n)
        self.code = np.zeros(n, dtype=np.uint8)
        self.at = np.zeros(n)
        self.n = 0
        self.memory: dict[str, int] = {}

    def write(self, d) -> None:
        i = self.n
        self.hop[i], self.end[i], self.code[i], self.at[i] = (
            d.hop,
            d.window_end_s,
            d.reason,
            self.clock.t,
        )
        self.n += 1
        t = self.clock.t
        if t >= TRACE[0] and not tracemalloc.is_tracing() and "last" not in self.memory:
            tracemalloc.start()
        if t >= TRACE[1] and "first" not in self.memory:
            gc.collect()
            self.memory["first"] = tracemalloc.get_traced_memory()[0]
        if t >= TRACE[2] and "last" not in self.memory:
            gc.collect()
            self.memory["last"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()

    def close(self) -> None:
        pass


def test_twenty_minutes_of_a_misbehaving_device(bundle, engine):
    clock = Clock()
    device = Device(clock)
    source = BridgeSource(BridgeConfig("soak", info_timeout_s=30), device.connect, clock)
    log = Log(round(DURATION_S / 0.25) + 100, clock)
    classifiers = []

    def make(streams):
        classifiers.append(Classifier(bundle, engine, streams, LoopConfig()))
        return classifiers[-1]

    try:
        stats = run(source, make, [log], clock=clock, sleep=clock.sleep, stall_timeout_s=2.0)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    (clf,) = classifiers

    # The NaN INFO ended the run at once, clearly, as a failure; until then it lived.
    assert stats.failed and stats.ended_by.startswith("source failed: ")
    assert "invalid" in stats.ended_by and "nan" in stats.ended_by.lower()
    assert NAN_INFO <= clock.t < NAN_INFO + 1.0
    assert log.end[log.n - 1] > NAN_INFO - 60.0
    # The cuts reconnected (each after two refused attempts); nothing else did.
    assert device.connections == 1 + len(CUTS) and stats.reconnects == 3 * len(CUTS)

    # One record per hop; one GAP record per index jump and per cut, no more.
    hop, code, end = log.hop[: log.n], log.code[: log.n], log.end[: log.n]
    np.testing.assert_array_equal(hop, np.arange(log.n))
    assert np.all(np.diff(end) >= 0)  # a resync adds no data time
    gap_at = np.sort(log.at[: log.n][code == AbstainReason.GAP])
    assert len(gap_at) == len(INDEX_JUMPS) + len(CUTS) == clf.gaps
    for t_event, t_record in zip(sorted(INDEX_JUMPS + CUTS), gap_at, strict=True):
        assert t_event <= t_record < t_event + 6.0
    # Duplicates and reordering cost no GAP and barely a window: after each restart's
    # warm-up, nearly every window classifies.
    assert device.sent["dup"] >= 45 and device.sent["swap"] >= 25
    warm = code == AbstainReason.NOT_ENOUGH_DATA
    assert warm.sum() == 39 * (1 + len(gap_at))
    other = ~warm & (code != AbstainReason.GAP)
    assert (code[other] == AbstainReason.NONE).mean() > 0.97

    # Memory: flat over 60 traced seconds that hold a cut, its restart, duplicates and
    # reordering (tracing slows every allocation ~5x, so only these are traced).
    growth = log.memory["last"] - log.memory["first"]
    assert growth < 128 * 1024, f"traced memory grew by {growth / 1024:.0f} KiB"
    for lane in clf.lanes.values():
        assert len(lane.queue) <= 4


class FullDisk:
    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.written = 0

    def write(self, d) -> None:
        if self.written == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written += 1

    def close(self) -> None:
        pass


def test_a_full_disk_stops_the_loop_cleanly(bundle, engine):
    clock = Clock()
    device = Device(clock)
    source = BridgeSource(BridgeConfig("disk", info_timeout_s=30), device.connect, clock)
    sink = FullDisk(fail_at=100)
    stats = run(
        source,
        lambda s: Classifier(bundle, engine, s, LoopConfig()),
        [sink],
        clock=clock,
        sleep=clock.sleep,
    )
    assert stats.failed and stats.records == 101 and sink.written == 100
    assert stats.ended_by == "output failed: FullDisk: [Errno 28] No space left on device"
    assert clock.t < 30.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/full is Linux's")
def test_cli_exits_non_zero_with_a_summary_when_the_output_fills_up():
    proc = subprocess.run(
        [sys.executable, "-m", "edge_emotion.run", "--out", "/dev/full", "--duration", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "ended: output failed: JsonlSink" in proc.stdout
    assert "decisions," in proc.stdout  # the summary
    assert "error: output failed" in proc.stderr and "Traceback" not in proc.stderr
