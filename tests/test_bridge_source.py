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

from edge_emotion.decision import Decision as RuntimeDecision
from edge_emotion.firmware_bridge.downlink import BridgeSink, to_wire_decision
from edge_emotion.firmware_bridge.emulator import (
    DeviceEmulator,
    EmulatorConfig,
    PtyPair,
    serve_pty,
    serve_tcp,
    simulate_recording,
)
from edge_emotion.firmware_bridge.protocol import AbstainReason, Decision
from edge_emotion.firmware_bridge.source import (
    BridgeConfig,
    BridgeSource,
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
    with pytest.raises(SourceError, match="no INFO frame"):
        src.start()
    th.join(5)
    srv.close()
    with pytest.raises(SourceError, match="cannot connect"):
        open_bridge_source(f"bridge:tcp://127.0.0.1:{port}").start()
    with pytest.raises(SourceError, match="cannot open serial port"):
        open_bridge_source("bridge:/dev/nonexistent-tty-edge-emotion").start()


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
    from edge_emotion.firmware_bridge.emulator import ECG_SCALE_UV, EEG_SCALE_UV, _load_npz

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
