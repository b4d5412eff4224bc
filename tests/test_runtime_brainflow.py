"""The real BrainFlow paths: the playback board replaying the demo recording exactly,
the OpenBCI GUI converter, and ``python -m edge_emotion.run`` as a subprocess (its demo
run, with training, export and torch blocked, is in test_runtime_isolation.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from edge_emotion.demo_recording import write_synthetic_demo_recording
from edge_emotion.source import SourceExhausted

pytest.importorskip("brainflow")
pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")


def test_playback_board_replays_the_file_exactly(tmp_path):
    from brainflow.data_filter import DataFilter

    from edge_emotion.brainflow_source import BrainFlowSource
    from edge_emotion.playback import playback_config

    rec = write_synthetic_demo_recording(tmp_path / "demo.csv", duration_s=2.0, seed=1)
    src = BrainFlowSource(playback_config(rec.path, rec.master_board, rec.channel_map))
    (stream,) = src.start()
    assert stream.sampling_rate == 250.0
    assert [c.role for c in stream.channels].count("ecg") == 1
    got, stamps = [], []
    t_end = time.monotonic() + 10.0
    try:
        while time.monotonic() < t_end:
            try:
                for chunk in src.read(timeout_s=0.1):
                    got.append(chunk.data)
                    stamps.append(chunk.timestamps)
            except SourceExhausted:
                break
        else:
            pytest.fail("playback did not end at the end of the file")
    finally:
        src.stop()
    src.stop()  # idempotent
    data = np.concatenate(got, axis=1)
    ref = DataFilter.read_file(str(rec.path))
    from brainflow.board_shim import BoardIds, BoardShim

    exg = BoardShim.get_exg_channels(BoardIds.SYNTHETIC_BOARD.value)
    rows = [exg[p - 1] for p in rec.channel_map.values()]
    assert data.shape == (len(rows), ref.shape[1])
    np.testing.assert_allclose(data, ref[rows], atol=1e-5)
    ts = np.concatenate(stamps)
    assert np.all(np.diff(ts) >= 0)  # the playback board stamps new, ordered times


def test_brainflow_files_are_read_and_described_through_one_public_reader(tmp_path, capfd):
    from edge_emotion.brainflow_source import board_rows, read_brainflow_file, write_brainflow_file

    board = board_rows("SYNTHETIC_BOARD")
    assert board.eeg_names[:3] == ("Fz", "C3", "Cz") and len(board.eeg_names) == len(board.exg)
    assert board.marker == board.num_rows - 1  # BrainFlow's marker row is the last one
    assert board_rows("CYTON_BOARD").marker is not None
    data = np.arange(board.num_rows * 3, dtype=np.float64).reshape(board.num_rows, 3)
    path = tmp_path / "r.csv"
    write_brainflow_file(data, path)
    np.testing.assert_allclose(read_brainflow_file(path), data, rtol=1e-6)
    write_brainflow_file(data[:, :1], path)  # one sample is still (rows, samples)
    assert read_brainflow_file(path).shape == (board.num_rows, 1)

    path.write_text("time,value\n0,1\n")
    from brainflow.data_filter import DataFilter

    DataFilter.enable_data_logger()  # as BrainFlow starts: it would print "not a number"
    capfd.readouterr()
    with pytest.raises(ValueError, match=r"r\.csv: not a BrainFlow data file \(") as info:
        read_brainflow_file(path)
    assert str(path) in str(info.value)
    assert capfd.readouterr().err == ""  # BrainFlow's own logger said nothing
    with pytest.raises(ValueError, match="no such file"):
        read_brainflow_file(tmp_path / "absent.csv")


def test_openbci_gui_txt_converts_and_plays(tmp_path, shared_data):
    pytest.importorskip("edge_emotion.openbci")
    from brainflow.data_filter import DataFilter

    from edge_emotion.openbci import read_openbci_gui_txt
    from edge_emotion.playback import convert_openbci_txt, main, playback_config

    txt = shared_data / "openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    out = tmp_path / "session.csv"
    assert main(["convert", str(txt), str(out)]) == 0
    side = json.loads((tmp_path / "session.csv.json").read_text())
    assert side["master_board"] == "CYTON_BOARD" and side["sampling_rate"] == 250.0
    conv = convert_openbci_txt(txt, tmp_path / "again.csv")
    assert conv.n_channels == 8 and conv.n_samples > 20_000
    rec = read_openbci_gui_txt(txt)
    exg = rec.eeg
    written = DataFilter.read_file(str(out))
    from brainflow.board_shim import BoardIds, BoardShim

    rows = BoardShim.get_exg_channels(BoardIds.CYTON_BOARD.value)
    np.testing.assert_allclose(written[rows], exg, atol=1e-5)
    cfg = playback_config(out)
    assert cfg.params["master_board"] == BoardIds.CYTON_BOARD.value
    assert cfg.file_rows == exg.shape[1] and len(cfg.channel_map) == 8


def test_run_refuses_a_channel_map_that_cannot_feed_the_bundle(tmp_path):
    rec = write_synthetic_demo_recording(tmp_path / "r.csv", duration_s=1.0)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_emotion.run",
            "--source",
            f"playback:{rec.path}",
            "--master-board",
            "SYNTHETIC_BOARD",
            "--channel-map",
            "AF3=1,F7=2,ECG=16",
            "--bundle",
            "synthetic-demo",
            "--duration",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "F3" in proc.stderr and "--channel-map" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bridge_source_end_to_end_with_device_emulator():
    """The firmware bridge's device emulator (TCP, 4x real time) -> run loop -> decisions
    sent back down the same link."""
    import threading

    from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
    from edge_emotion.classifier import Classifier, LoopConfig, warm_up
    from edge_emotion.engines import create_engine
    from edge_emotion.firmware_bridge.downlink import BridgeSink
    from edge_emotion.firmware_bridge.emulated_device import DeviceEmulator, EmulatorConfig
    from edge_emotion.firmware_bridge.emulator_endpoints import serve_tcp
    from edge_emotion.firmware_bridge.source import open_bridge_source
    from edge_emotion.loop import run

    bundle = load_bundle(DEMO_BUNDLE_PATH)
    engine = create_engine(bundle, "onnxruntime")
    warm_up(bundle, engine)  # compile before the device starts streaming, as run.py does
    emulator = DeviceEmulator(EmulatorConfig(speed=4.0))
    ready, box = threading.Event(), {}

    def serve():
        box["report"] = serve_tcp(
            emulator,
            14.0,
            accept_timeout_s=10,
            on_ready=lambda s: (box.setdefault("spec", s), ready.set()),
            write_timeout_s=30,
        )

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    assert ready.wait(10)
    source = open_bridge_source(box["spec"])
    records = []

    class Keep:
        def write(self, d):
            records.append(d)

        def close(self):
            pass

    stats = run(
        source,
        lambda streams: Classifier(bundle, engine, streams, LoopConfig()),
        [Keep(), BridgeSink(source)],
        duration_s=20.0,
        max_reconnects=0,
    )
    th.join(10)
    assert [d.hop for d in records] == list(range(len(records)))
    assert len(records) >= 50  # >= 12.5 s of the 14 s the device streamed
    assert stats.ended_by.startswith("gave up")  # the device closed the link at its end
    classified = [d for d in records if not d.abstained]
    assert classified and all(d.window_end_s >= 10.0 for d in classified)
    # The device received decisions over the downlink, in order.
    received = box["report"].decisions
    assert 0 < len(received) <= len(records)


def test_ctrl_c_ends_cleanly_and_releases_the_board(tmp_path):
    import signal

    out = tmp_path / "d.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_emotion.run", "--backend", "onnxruntime", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # wait for the first decisions, then press Ctrl-C
            if line.startswith("[    1.00 s]"):
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert "ended: interrupted (Ctrl-C)" in stdout
    assert "Traceback" not in stderr
    assert "released PLAYBACK_FILE_BOARD" in stderr
    recs = [json.loads(s) for s in out.read_text().splitlines()]
    assert len(recs) >= 4 and [r["hop"] for r in recs] == list(range(len(recs)))
