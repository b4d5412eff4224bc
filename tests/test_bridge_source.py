"""The bridge as a Source, end to end against the device emulator over TCP (loopback)
and over a pseudo-terminal opened with pyserial; decisions back to the device."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge_emotion.decision import AbstainReason
from edge_emotion.decision import Decision as RuntimeDecision
from edge_emotion.firmware_bridge.codec import encode_data, encode_frame, encode_info
from edge_emotion.firmware_bridge.downlink import BridgeSink, to_wire_decision
from edge_emotion.firmware_bridge.emulated_device import (
    DeviceEmulator,
    EmulatorConfig,
    simulate_recording,
)
from edge_emotion.firmware_bridge.emulator_endpoints import PtyPair, serve_pty, serve_tcp
from edge_emotion.firmware_bridge.protocol import (
    ChannelSpec,
    DataBlock,
    Decision,
    DeviceInfo,
    SampleFormat,
    StreamSpec,
)
from edge_emotion.firmware_bridge.source import (
    BridgeConfig,
    BridgeSource,
    ConnectError,
    InvalidInfoError,
    open_bridge_source,
    parse_bridge_spec,
)
from edge_emotion.source import Source, SourceError


def _run_in_thread(fn) -> tuple[threading.Thread, dict]:
    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("report", fn()), daemon=True)
    th.start()
    return th, box


def _serve(emulator: DeviceEmulator, duration_s: float):
    ready = threading.Event()
    spec: dict = {}

    def on_ready(s: str) -> None:
        spec["spec"] = s
        ready.set()

    th, box = _run_in_thread(
        lambda: serve_tcp(
            emulator, duration_s, accept_timeout_s=10, on_ready=on_ready, write_timeout_s=60
        )
    )
    assert ready.wait(10)
    return spec["spec"], th, box


def _read_all(src: BridgeSource, max_s: float = 20.0) -> list:
    chunks, t_end = [], time.monotonic() + max_s
    while time.monotonic() < t_end:
        try:
            chunks += src.read(0.2)
        except SourceError:  # the emulator finished and closed the link
            break
    return chunks


def _check_against_device(chunks, emulator: DeviceEmulator, streams) -> None:
    """Every delivered sample equals what the device quantised, in physical units;
    lost_samples equals exactly the samples of dropped/corrupted frames before the last
    delivered frame of each stream; timestamps follow the device clock."""
    rep = emulator.report
    for k, spec in enumerate(emulator.info.streams):
        mine = [c for c in chunks if c.stream == k]
        assert mine, f"no chunks for stream {k}"
        assert streams[k].sampling_rate == spec.sampling_rate
        raw = emulator._raw[spec.stream_id]
        n_delivered = 0
        for c in mine:
            n = c.data.shape[1]
            idx = c.meta["sample_index"] + np.arange(n)
            want = raw[idx % raw.shape[0]].T * spec.scales[:, None]
            np.testing.assert_allclose(c.data, want, rtol=1e-12)
            want_t = (emulator.config.clock_start_us + idx / spec.sampling_rate * 1e6) % 2**32
            got_t = (c.timestamps * 1e6) % 2**32
            np.testing.assert_allclose(got_t, want_t, atol=1.0)
            n_delivered += n
        last = mine[-1].meta["sample_index"] + mine[-1].data.shape[1]
        lost = sum(n for sid, i, n in rep.lost_frames if sid == spec.stream_id and i < last)
        assert sum(c.lost_samples for c in mine) == lost
        first = mine[0].meta["sample_index"]
        assert n_delivered + lost == last - first


def test_spec_parsing():
    c = parse_bridge_spec("bridge:/dev/ttyACM0?baud=115200&info_timeout=5")
    assert (c.target, c.baud, c.info_timeout_s) == ("/dev/ttyACM0", 115200, 5.0)
    assert parse_bridge_spec("bridge:tcp://127.0.0.1:7777").target == "tcp://127.0.0.1:7777"
    assert parse_bridge_spec("bridge:COM3").baud == 921600
    for bad in ("/dev/ttyACM0", "bridge:", "bridge:tcp://host", "bridge:x?parity=E"):
        with pytest.raises(ValueError, match=r"spec|target"):
            parse_bridge_spec(bad)
    with pytest.raises(ValueError, match="baud"):
        BridgeConfig("/dev/ttyACM0", baud=0)


def test_tcp_end_to_end_with_dropped_and_corrupted_frames():
    cfg = EmulatorConfig(
        eeg_names=("AF3", "F7", "F3", "FC5", "O1", "O2", "P8", "T8"),
        eeg_fs=250.0,
        ecg_fs=500.0,
        samples_per_frame=25,
        speed=50.0,
        drop_prob=0.05,
        corrupt_prob=0.05,
        info_interval_s=0.5,
        clock_start_us=2**32 - 2_000_000,  # the device clock wraps 2 s into the run
        seed=4,
    )
    emulator = DeviceEmulator(cfg, simulate_recording(cfg, 4.0))
    spec, th, box = _serve(emulator, 8.0)
    src = open_bridge_source(spec)
    assert isinstance(src, Source)
    streams = src.start()
    assert [s.names("eeg") for s in streams] == [list(cfg.eeg_names), []]
    assert streams[1].names("ecg") == ["ECG"] and streams[1].channels[0].unit == "uV"
    chunks = _read_all(src)
    src.stop()
    th.join(10)
    rep = box["report"]
    assert rep.frames_dropped > 0 and rep.frames_corrupted > 0
    _check_against_device(chunks, emulator, streams)
    stats = src.stats
    assert stats.framing.crc_errors + stats.framing.header_errors >= 1
    assert stats.samples_lost == sum(c.lost_samples for c in chunks)
    # Timestamps are unwrapped: strictly increasing through the device clock's wrap.
    ts = np.concatenate([c.timestamps for c in chunks if c.stream == 0])
    assert np.all(np.diff(ts) > 0) and ts[-1] > 2**32 * 1e-6


def test_pty_serial_end_to_end_and_decisions_downlink():
    pytest.importorskip("serial")
    if not hasattr(os, "openpty"):
        pytest.skip("no pseudo-terminals on this platform")
    cfg = EmulatorConfig(speed=20.0, samples_per_frame=16, info_interval_s=1.0, seed=2)
    emulator = DeviceEmulator(cfg, simulate_recording(cfg, 3.0))
    pty = PtyPair(write_timeout_s=60)  # a loaded CI machine must not lose bytes
    try:
        th, box = _run_in_thread(lambda: serve_pty(emulator, 4.0, pty))
        src = open_bridge_source(f"bridge:{pty.path}?baud=921600")
        streams = src.start()
        assert streams[0].names("eeg")[:2] == ["AF3", "F7"] and len(streams[0].channels) == 14
        sink = BridgeSink(src)
        record = RuntimeDecision(
            hop=0,
            window_end_s=10.0,
            window_end_ts=12.5,
            probabilities={"arousal": 0.8, "valence": 0.3},
            labels={"arousal": "high", "valence": "low"},
        )
        abstain = RuntimeDecision(
            hop=0,
            window_end_s=9.75,
            reason=AbstainReason.LEAD_OFF,
            detail="ecg bad: flat/lead-off: ECG",
        )
        sink.write(abstain)
        chunks = []
        t_end = time.monotonic() + 20
        while th.is_alive() and time.monotonic() < t_end:
            chunks += src.read(0.1)
            sink.write(record)
        th.join(10)
        chunks += src.read(0.05)
        src.stop()
    finally:
        pty.close()
    rep = box["report"]
    _check_against_device(chunks, emulator, streams)
    assert sum(c.data.shape[1] for c in chunks if c.stream == 1) >= 0.8 * rep.samples_sent[1]
    got = rep.decisions
    assert 3 <= len(got) <= sink.sent  # the last ones may follow the device's final read
    assert got[0].abstained and got[0].reason == AbstainReason.LEAD_OFF
    d = got[1]
    assert d.arousal_high and not d.valence_high and not d.abstained
    assert d.p_arousal == pytest.approx(0.8, abs=1e-4) and d.window_end_us == 12_500_000


def test_wire_decision_mapping():
    # The record's own code goes on the wire, whatever its text says.
    for reason in AbstainReason:
        if reason is AbstainReason.NONE:
            continue
        record = RuntimeDecision(hop=3, window_end_s=1.0, reason=reason, detail="eeg bad: x")
        d = to_wire_decision(record)
        assert d.abstained and d.reason == reason and d.window_end_us == 0
    ok = to_wire_decision(
        RuntimeDecision(
            hop=0,
            window_end_s=1.0,
            window_end_ts=2**32 * 1e-6 + 1.0,  # device time after a wrap
            probabilities={"arousal": 0.2, "valence": 0.9},
            labels={"arousal": "low", "valence": "high"},
        )
    )
    assert ok == Decision(0.2, 0.9, False, True, False, AbstainReason.NONE, 1_000_000)


def test_start_times_out_without_info_and_disconnect_raises():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def mute_device():
        conn, _ = srv.accept()
        conn.sendall(b"\x00garbage, no frames\xa5" * 50)
        time.sleep(1.0)
        conn.close()

    th = threading.Thread(target=mute_device, daemon=True)
    th.start()
    src = open_bridge_source(f"bridge:tcp://127.0.0.1:{port}?info_timeout=0.5")
    with pytest.raises(ConnectError, match="no INFO frame"):
        src.start()
    th.join(5)
    srv.close()


def test_emulator_command_line():
    cmd = [
        sys.executable, "-m", "edge_emotion.firmware_bridge.emulator", "--tcp", "0",
        "--duration", "2", "--speed", "0", "--eeg-names", "Fz,Cz,Pz", "--accept-timeout", "20",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("emulator: listening on bridge:tcp://127.0.0.1:"), line
        src = open_bridge_source(line.split(" on ", 1)[1].strip())
        streams = src.start()
        assert streams[0].names() == ["Fz", "Cz", "Pz"]
        chunks = _read_all(src)
        src.stop()
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "emulator: sent" in out and "dropped 0" in out
    n_eeg = sum(c.data.shape[1] for c in chunks if c.stream == 0)
    assert n_eeg == 2 * 128 // 16 * 16 and sum(c.lost_samples for c in chunks) == 0
    with pytest.raises(SystemExit):
        from edge_emotion.firmware_bridge.emulator import main

        main(["--eeg-names", "THISNAMEISTOOLONG"])


def test_emulator_quantises_given_signals_and_validates_them(tmp_path):
    from edge_emotion.firmware_bridge.emulated_device import ECG_SCALE_UV, EEG_SCALE_UV
    from edge_emotion.firmware_bridge.emulator import _load_npz

    cfg = EmulatorConfig(eeg_names=("C3", "C4"))
    rng = np.random.default_rng(0)
    eeg, ecg = rng.normal(0, 50, (2, 300)), rng.normal(0, 800, 300)
    path = tmp_path / "rec.npz"
    np.savez(path, eeg=eeg, ecg=ecg)
    em = DeviceEmulator(cfg, _load_npz(str(path), cfg))
    np.testing.assert_array_equal(em._raw[0], np.round(eeg / EEG_SCALE_UV).T)
    np.testing.assert_array_equal(em._raw[1][:, 0], np.round(ecg / ECG_SCALE_UV))
    np.savez(path, eeg=eeg[:1], ecg=ecg)
    with pytest.raises(ValueError, match="eeg"):
        _load_npz(str(path), cfg)
    with pytest.raises(ValueError, match="signals"):
        DeviceEmulator(cfg, {0: eeg})
    with pytest.raises(ValueError, match="samples_per_frame"):
        EmulatorConfig(samples_per_frame=0)


# --------------------------------------------------------------------------- scripted links

INFO_250 = DeviceInfo(
    (StreamSpec(0, 250.0, SampleFormat.INT16, (ChannelSpec("Cz"), ChannelSpec("Pz"))),),
    name="scripted",
)


def _data(idx: int, seq: int, n: int = 25) -> bytes:
    raw = np.tile(np.arange(n)[:, None], (1, 2)) + idx % 1000
    return encode_data(DataBlock(0, SampleFormat.INT16, idx & 0xFFFFFFFF, 0, raw), seq, 0)


class ScriptedLink:
    """A transport that returns the given pieces, one per ``BridgeSource.read`` (a
    piece, then nothing until asked again), then nothing (or fails)."""

    def __init__(self, pieces: list[bytes], fail_when_done: bool = False) -> None:
        self.pieces = list(pieces)
        self.fail_when_done = fail_when_done
        self.reads = 0
        self.written: list[bytes] = []
        self._drained = True

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self.reads += 1
        self._drained = not self._drained
        if self._drained:
            return b""  # the source drains until a read comes back empty
        if self.pieces:
            return self.pieces.pop(0)
        if self.fail_when_done:
            raise SourceError("scripted link: closed")
        return b""

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        pass


def _scripted_source(link: ScriptedLink, clock=time.monotonic) -> BridgeSource:
    return BridgeSource(BridgeConfig("scripted", info_timeout_s=30), lambda _c: link, clock)


def test_info_with_a_nan_scale_is_rejected_once_and_clearly():
    """It used to be accepted, and every later INFO differed (NaN != NaN): 'the device
    changed its configuration', reconnect, forever."""
    payload = bytearray(encode_info(INFO_250, 0, 0)[12:-2])
    payload[32 + 12 : 32 + 16] = np.array([np.nan], "<f4").tobytes()  # channel Cz's scale
    link = ScriptedLink([encode_frame(1, 0, 0, bytes(payload)) + _data(0, 1)])
    src = _scripted_source(link)
    with pytest.raises(InvalidInfoError, match=r"INFO frame is invalid: .*Cz.*scale nan") as exc:
        src.start()
    assert isinstance(exc.value, ConnectError) and exc.value.first_attempt
    assert link.reads == 1  # at once, not after info_timeout


def test_repeated_info_is_not_a_configuration_change():
    info = encode_info(INFO_250, 0, 0)
    again = encode_info(INFO_250, 3, 0)
    link = ScriptedLink([info + _data(0, 1), _data(25, 2) + again + _data(50, 4)])
    src = _scripted_source(link)
    src.start()
    chunks = src.read(0.0) + src.read(0.0)
    assert sum(c.data.shape[1] for c in chunks) == 75 and src.stats.info_frames == 2


def test_index_jump_is_an_explicit_bounded_gap_or_a_resync():
    now = [0.0]
    link = ScriptedLink(
        [
            encode_info(INFO_250, 0, 0) + _data(0, 1),
            _data(25 + 2**31 - 1, 2),  # 0.1 s later: 99 days of samples, impossible
            _data(50 + 2**31 - 1 + 2500, 3),  # 12 s later: 10 s of samples lost, possible
        ]
    )
    src = _scripted_source(link, clock=lambda: now[0])
    src.start()
    assert [c.lost_samples for c in src.read(0.0)] == [0]
    now[0] = 0.1
    (jump,) = src.read(0.0)
    assert jump.lost_samples == 0 and jump.data.shape == (2, 25)
    assert jump.meta["discontinuity"] and jump.meta["index_jump"] == 2**31 - 1
    assert jump.meta["gap_s"] == 0.0
    now[0] = 12.1
    (gap,) = src.read(0.0)
    assert gap.lost_samples == 2500 and gap.meta["gap_s"] == pytest.approx(10.0)
    assert not gap.meta["discontinuity"] and gap.meta["index_jump"] == 0
    assert src.stats.samples_lost == 2500 and src.stats.streams[0].discontinuities == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wrong_address_fails_on_the_first_attempt_with_a_typed_error():
    cases = [
        (f"bridge:tcp://127.0.0.1:{_closed_port()}", "cannot connect to 127.0.0.1"),
        ("bridge:tcp://127.0.0.1:1", "cannot connect to 127.0.0.1:1"),
    ]
    try:
        import serial  # noqa: F401

        cases.append(("bridge:/dev/nonexistent-tty-edge-emotion", "cannot open serial port"))
    except ImportError:
        pass
    for spec, words in cases:
        with pytest.raises(ConnectError, match=words) as exc:
            open_bridge_source(spec).start()
        assert exc.value.first_attempt and exc.value.target == spec.removeprefix("bridge:")


def test_reconnect_failure_and_disconnect_are_told_apart():
    links = [ScriptedLink([encode_info(INFO_250, 0, 0) + _data(0, 1)], fail_when_done=True)]

    def factory(_config):
        if not links:
            raise SourceError("device unplugged")
        return links.pop()

    src = BridgeSource(BridgeConfig("scripted"), factory)
    src.start()
    assert len(src.read(0.0)) == 1
    with pytest.raises(SourceError) as lost:
        src.read(0.0)
    assert not isinstance(lost.value, ConnectError)  # a disconnect, after a good start
    src.stop()
    with pytest.raises(ConnectError, match="device unplugged") as exc:
        src.start()
    assert not exc.value.first_attempt  # a reconnect attempt, not a wrong address


def _read_for(src: BridgeSource, seconds: float) -> list:
    chunks, t_end = [], time.monotonic() + seconds
    while time.monotonic() < t_end:
        chunks += src.read(0.05)
    return chunks


def test_emulator_serves_several_hosts_and_keeps_running_when_they_leave():
    """It used to serve one host and exit: a run loop that reconnected found nothing."""
    cfg = EmulatorConfig(eeg_names=("Fz", "Cz"), speed=8.0, info_interval_s=0.5, seed=3)
    emulator = DeviceEmulator(cfg, simulate_recording(cfg, 24.0))
    spec, th, box = _serve(emulator, 24.0)
    first, second = open_bridge_source(spec), open_bridge_source(spec)
    streams = first.start()
    second.start()  # a second host while the first is connected
    got_first = _read_for(first, 0.4)
    got_second = _read_for(second, 0.4)
    first.stop()
    second.stop()
    time.sleep(0.3)  # nobody connected: the device runs on
    third = open_bridge_source(spec)
    third.start()
    got_third = _read_all(third)  # until the device's 24 s are played and it closes
    third.stop()
    th.join(10)
    rep = box["report"]
    assert rep.clients == 3 and rep.bytes_unsent > 0
    for chunks in (got_first, got_second, got_third):
        _check_against_device(chunks, emulator, streams)
    # The third host joined a device that kept its clock: no restart, a later index.
    last_second = max(c.meta["sample_index"] for c in got_second if c.stream == 0)
    assert min(c.meta["sample_index"] for c in got_third if c.stream == 0) > last_second
    assert all(c.lost_samples == 0 for c in got_third)
