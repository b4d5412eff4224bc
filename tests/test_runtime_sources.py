"""Opening sources: fail fast on a first connection that cannot be made, LSL streams in
(channel labels, units, dropped samples, markers), ``--record`` (flushed as it goes,
replayable after kill -9), ``--list-boards``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from edge_emotion.loop import run
from edge_emotion.source import FatalSourceError, SourceError

pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")

# The default bundle's placement on a Cyton+Daisy (README, "The demo").
CHANNEL_MAP = "Fp1=1,Fp2=2,C3=3,C4=4,P7=5,P8=6,O1=7,O2=8,ECG=9"


def _cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "edge_emotion.run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Clock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


class _NeverConnects:
    def __init__(self, error=None):
        self.error = error or SourceError("UNABLE_TO_OPEN_PORT_ERROR:2 (simulated)")
        self.starts = 0

    def start(self):
        self.starts += 1
        raise self.error

    def read(self, timeout_s=0.1):
        raise AssertionError("never started")

    def stop(self):
        raise AssertionError("nothing to stop: it never started")


def test_a_first_connection_that_fails_ends_the_run_after_quick_retries():
    clock = _Clock()
    src = _NeverConnects()
    stats = run(src, None, [], duration_s=60.0, connect_retries=2, clock=clock, sleep=clock.sleep)
    assert stats.failed and src.starts == 3 and clock.sleeps == [0.5, 1.0]
    assert stats.ended_by == "could not connect: UNABLE_TO_OPEN_PORT_ERROR:2 (simulated)"
    assert stats.reconnects == 0
    # A duration shorter than the retries: still a failure, not "duration reached".
    clock = _Clock()
    stats = run(_NeverConnects(), None, [], duration_s=1.0, clock=clock, sleep=clock.sleep)
    assert stats.failed and stats.ended_by.startswith("could not connect: ")


def test_a_fatal_source_error_is_not_retried():
    clock = _Clock()
    src = _NeverConnects(FatalSourceError("INFO frame is invalid: channel Cz scale nan"))
    stats = run(src, None, [], duration_s=60.0, clock=clock, sleep=clock.sleep)
    assert stats.failed and src.starts == 1 and clock.sleeps == []
    assert stats.ended_by == "source failed: INFO frame is invalid: channel Cz scale nan"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["brainflow", "bridge"])
def test_cli_wrong_port_exits_non_zero_within_seconds(kind):
    if kind == "brainflow":
        pytest.importorskip("brainflow")
        args = ["--board", "CYTON_DAISY_BOARD", "--serial-port", "/dev/nonexistent-edge-emotion"]
        args += ["--channel-map", CHANNEL_MAP]
        words = "UNABLE_TO_OPEN_PORT_ERROR"
    else:
        args = ["--source", f"bridge:tcp://127.0.0.1:{_closed_port()}"]
        words = "Connection refused"
    t0 = time.monotonic()
    proc = _cli(*args, "--duration", "60", "--connect-retries", "1")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "error: could not connect: " in proc.stderr and words in proc.stderr
    assert "release_session failed" not in proc.stderr and "Traceback" not in proc.stderr
    assert "ended: could not connect" in proc.stdout
    assert elapsed < 45  # not the 60 s asked for (interpreter start and imports included)


def test_list_boards():
    pytest.importorskip("brainflow")
    proc = _cli("--list-boards", timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[1:-1]}
    assert rows["CYTON_DAISY_BOARD"][2:] == ["16", "125"]
    assert rows["SYNTHETIC_BOARD"][2:] == ["16", "250"]
    assert "PLAYBACK_FILE_BOARD" not in rows and len(rows) > 40


def test_a_reader_that_stops_reading_ends_the_listing_quietly():
    """``--list-boards | head``: the pipe is closed before the first line is written, so
    every write fails (with or without Python's output buffer)."""
    pytest.importorskip("brainflow")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_emotion.run", "--list-boards"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# ------------------------------------------------------------------------------ LSL


def _lsl_outlet(pylsl, name, stype, labels, fs, units, uid, fmt=None):
    info = pylsl.StreamInfo(name, stype, len(labels), fs, fmt or pylsl.cf_float32, uid)
    chans = info.desc().append_child("channels")
    for label, unit in zip(labels, units, strict=True):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("type", stype)
        ch.append_child_value("unit", unit)
    return pylsl.StreamOutlet(info)


def test_lsl_source_reads_two_streams_finds_drops_and_carries_markers():
    pylsl = pytest.importorskip("pylsl")
    from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
    from edge_emotion.classifier import Classifier, LoopConfig
    from edge_emotion.engines import create_engine
    from edge_emotion.lsl_source import LslSource, parse_lsl_spec
    from edge_emotion.synthetic import synthetic_recording

    bundle = load_bundle(DEMO_BUNDLE_PATH)
    fc = bundle.feature_config
    fs = 250.0
    tag = uuid.uuid4().hex[:8]
    eeg_out = _lsl_outlet(
        pylsl, f"ee-eeg-{tag}", "EEG", list(fc.eeg_channels), fs, ["microvolts"] * 14, tag + "e"
    )
    # The ECG stream has no labels: --channel-map names it (channel 15 overall), in mV.
    ecg_info = pylsl.StreamInfo(f"ee-ecg-{tag}", "ECG", 1, fs, pylsl.cf_float32, tag + "c")
    ecg_info.desc().append_child("channels").append_child("channel").append_child_value(
        "unit", "mV"
    )
    ecg_out = pylsl.StreamOutlet(ecg_info)
    mk_out = pylsl.StreamOutlet(
        pylsl.StreamInfo(f"ee-mk-{tag}", "Markers", 1, 0.0, pylsl.cf_string, tag + "m")
    )
    cfg = parse_lsl_spec(
        f"lsl:ee-eeg-{tag},ee-ecg-{tag}?markers=ee-mk-{tag}&timeout=5", {"ECG": 15}, ("ECG",)
    )
    src = LslSource(cfg)
    streams = src.start()
    try:
        assert streams[0].names() == list(fc.eeg_channels)
        assert [c.role for c in streams[0].channels] == ["eeg"] * 14
        assert streams[1].channels[0].name == "ECG" and streams[1].channels[0].role == "ecg"
        assert streams[1].channels[0].unit == "uV"
        x = synthetic_recording(fc.eeg_channels, 14.0, fs, np.random.default_rng(1))
        t0 = pylsl.local_clock()
        ts = t0 + np.arange(x.shape[1]) / fs
        keep = np.ones(x.shape[1], bool)
        keep[1000:1025] = False  # 25 EEG samples never sent (100 ms)
        time.sleep(0.5)  # let the inlets connect
        for a in range(0, x.shape[1], 250):
            sl = slice(a, a + 250)
            k = keep[sl]
            eeg_out.push_chunk(x[:14, sl].T[k].copy(), list(ts[sl][k]))
            ecg_out.push_chunk((x[14:, sl] / 1000.0).T.copy(), list(ts[sl]))
        mk_out.push_sample(["stimulus on"], t0 + 5.0)
        clf = Classifier(bundle, create_engine(bundle, "onnxruntime"), streams, LoopConfig())
        chunks, records = [], []
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and sum(c.data.shape[1] + c.lost_samples for c in chunks if c.stream == 0) < x.shape[1]
        ):
            got = src.read(0.2)
            chunks += got
            for c in got:
                records += clf.feed(c)
    finally:
        src.stop()
    eeg = [c for c in chunks if c.stream == 0]
    ecg = [c for c in chunks if c.stream == 1]
    assert sum(c.lost_samples for c in eeg) == 25 and src.samples_lost == 25
    lossy = [c for c in eeg if c.lost_samples]
    # LSL's clock, with the (tiny, same-host) clock offset proc_clocksync applies.
    assert lossy[0].timestamps[0] == pytest.approx(ts[1025], abs=1e-3)
    got_eeg = np.concatenate([c.data for c in eeg], axis=1)
    np.testing.assert_allclose(got_eeg, x[:14, keep], rtol=1e-6, atol=1e-3)
    got_ecg = np.concatenate([c.data for c in ecg], axis=1)
    np.testing.assert_allclose(got_ecg, x[14:], rtol=1e-5, atol=1e-2)  # mV -> µV
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in ecg]), ts, atol=1e-3)
    # The marker rode in with the data, and came out on a decision record.
    assert [m for c in chunks for m in c.meta.get("markers", [])] == [
        (pytest.approx(t0 + 5.0, abs=1e-3), "stimulus on")
    ]
    marked = [d for d in records if d.markers]
    assert len(marked) == 1 and marked[0].markers[0][1] == "stimulus on"
    # The 100 ms drop was filled (no GAP); the windows after warm-up classify.
    assert len(records) >= 50 and not any(d.reason.name == "GAP" for d in records)
    assert [d.hop for d in records] == list(range(len(records)))
    assert not records[-1].abstained and records[-1].missing_fraction == pytest.approx(25 / 2500)


def test_lsl_spec_parsing_and_a_missing_stream():
    from edge_emotion.lsl_source import LslSource, parse_lsl_spec

    c = parse_lsl_spec("lsl:EEG,ECG?markers=Markers&timeout=2.5")
    assert (c.streams, c.markers, c.resolve_timeout_s) == (("EEG", "ECG"), "Markers", 2.5)
    for bad, words in (
        ("lsl:", "at least one stream"),
        ("lsl:EEG?rate=5", "unknown option"),
        ("lsl:E'EG", "quotes"),
        ("lsl:EEG?timeout=x", "not a number"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_lsl_spec(bad)
    pytest.importorskip("pylsl")
    src = LslSource(parse_lsl_spec(f"lsl:no-such-stream-{uuid.uuid4().hex[:6]}?timeout=0.5"))
    with pytest.raises(SourceError, match="no stream named or typed"):
        src.start()


# ---------------------------------------------------------------------------- --record


def test_record_survives_kill_9_and_replays(tmp_path):
    pytest.importorskip("brainflow")
    from brainflow.data_filter import DataFilter

    rec = tmp_path / "session.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_emotion.run",
            "--source",
            "demo:synthetic",
            "--record",
            str(rec),
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # 12 s of the demo, then kill -9: no chance to flush
            if line.startswith("[   12.00 s]"):
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    side = json.loads((tmp_path / "session.csv.json").read_text())
    assert side["format"] == "edge_emotion.recording/1"
    assert side["master_board"] == "SYNTHETIC_BOARD" and side["sampling_rate"] == 250.0
    assert side["channels"][-1] == "ECG" and side["roles"][-1] == "ecg"
    assert side["units"] == ["uV"] * 15
    assert side["decisions"] == "session.csv.decisions.jsonl"
    data = DataFilter.read_file(str(rec))
    # Everything up to the last second before the kill is on disk.
    assert data.shape[1] >= 250 * 10
    decisions = [json.loads(s) for s in (tmp_path / side["decisions"]).read_text().splitlines()]
    assert len(decisions) >= 44 and decisions[-1]["hop"] == len(decisions) - 1
    # Refuses to overwrite it.
    again = _cli("--record", str(rec), "--duration", "1")
    assert again.returncode == 2 and "exists" in again.stderr
    # It replays through BrainFlow's playback board, with its own sidecar.
    out = tmp_path / "replay.jsonl"
    replay = _cli(
        "--source", f"playback:{rec}", "--bundle", "synthetic-demo", "--out", str(out),
        "--quiet", timeout=180,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert "ended: end of recording" in replay.stdout
    replayed = [json.loads(s) for s in out.read_text().splitlines()]
    assert (
        len(replayed) == data.shape[1] // 250 * 4 or abs(len(replayed) - data.shape[1] / 62.5) < 2
    )
    assert sum(not r["abstained"] for r in replayed) >= 1


def test_recorder_writes_events_and_one_file_per_stream(tmp_path):
    pytest.importorskip("brainflow")
    from brainflow.data_filter import DataFilter

    from edge_emotion.recorder import Recorder
    from edge_emotion.source import ChannelInfo, Chunk, StreamInfo

    eeg = StreamInfo(250.0, (ChannelInfo("Fz", "eeg"), ChannelInfo("Cz", "eeg")))
    ecg = StreamInfo(500.0, (ChannelInfo("ECG", "ecg"),))
    rec = Recorder(tmp_path / "s.csv", "test streams", flush_s=1.0)
    rec.open((eeg, ecg))
    x = np.arange(500.0).reshape(2, 250)
    rec.add(Chunk(0, x, 10.0 + np.arange(250) / 250, meta={"markers": [(10.5, "go")]}))
    rec.add(Chunk(0, x, 12.0 + np.arange(250) / 250, lost_samples=2**31 - 1))
    rec.add(Chunk(1, np.ones((1, 100)), 10.0 + np.arange(100) / 500))
    rec.add(Chunk(0, x, 0.0 + np.arange(250) / 250, meta={"discontinuity": True, "index_jump": -5}))
    assert (tmp_path / "s.csv").stat().st_size > 0  # 1 s of stream 0 written already
    rec.close()
    side = json.loads((tmp_path / "s.csv.json").read_text())
    assert side["streams"][0]["file"] == "s.stream1.csv"
    assert side["streams"][0]["master_board"] != side["master_board"]  # 500 vs 250 Hz
    assert json.loads((tmp_path / "s.stream1.csv.json").read_text())["roles"] == ["ecg"]
    data = DataFilter.read_file(str(tmp_path / "s.csv"))
    assert data.shape[1] == 750  # the lost 2^31 - 1 samples are an event, not samples
    events = [json.loads(s) for s in (tmp_path / "s.csv.events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["marker", "gap", "discontinuity"]
    assert events[1]["lost_samples"] == 2**31 - 1 and events[1]["t"] == 12.0
    assert [p.name for p in rec.written_paths] == [
        "s.csv",
        "s.csv.json",
        "s.stream1.csv",
        "s.stream1.csv.json",
        "s.csv.decisions.jsonl",
        "s.csv.events.jsonl",
    ]


def test_lsl_timestamps_jitter_is_not_loss_but_drops_and_resyncs_are():
    from edge_emotion.lsl_source import LslConfig, LslSource
    from edge_emotion.source import ChannelInfo, StreamInfo

    src = LslSource(LslConfig(streams=("EEG",)))
    src._streams = (StreamInfo(100.0, (ChannelInfo("Cz", "eeg"),)),)
    src._scales = [np.ones(1)]
    src._last_ts = [None]

    def pull(t0, n=10):
        stamps = t0 + np.arange(n) / 100.0
        return src._split(0, np.zeros((n, 1)), list(stamps))

    assert [c.lost_samples for c in pull(0.0)] == [0]
    # Chunks stamped at push time overlap or lag by tens of ms: jitter, nothing lost.
    assert [(c.lost_samples, c.meta) for c in pull(0.08)] == [(0, {})]  # 20 ms back
    assert [(c.lost_samples, c.meta) for c in pull(0.21)] == [(0, {})]  # 30 ms late
    (c,) = pull(0.51)  # 200 ms late (0.31 s expected): 20 samples lost
    assert c.lost_samples == 20 and src.samples_lost == 20
    (c,) = pull(-1.0)  # 1.6 s back: a resync
    assert c.meta["discontinuity"] and c.lost_samples == 0
    (c,) = pull(1e300)  # years (beyond the float range of samples): a count, no array
    assert c.lost_samples > 10**300 and c.data.shape == (1, 10)
    stamps = [np.inf] * 10
    (c,) = src._split(0, np.zeros((10, 1)), stamps)
    assert c.meta["discontinuity"]
