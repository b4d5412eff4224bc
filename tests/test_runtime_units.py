"""Runtime building blocks: quality checks, channel
maps and the refusal of sources that cannot feed a bundle, Decision JSON, sinks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from edge_emotion.classifier import LoopConfig
from edge_emotion.decision import AbstainReason, Decision
from edge_emotion.kernels.blockstats import WindowStatistics
from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.lane import hold_missing
from edge_emotion.lane_plan import ConfigurationError, plan_lanes
from edge_emotion.quality import QualityConfig, assess_heart, assess_signal
from edge_emotion.sinks import JsonlSink, SinkError, StdoutSink
from edge_emotion.source import ChannelInfo, StreamInfo


def test_assess_signal_reasons():
    cfg = QualityConfig()
    names = ["A", "B", "C"]
    good = WindowStatistics(
        count=np.full(3, 1000.0),
        std=np.full(3, 20.0),
        missing=np.zeros(3),
        saturated=np.zeros(3),
        flat_fraction=np.zeros(3),
    )
    assert assess_signal(good, names, cfg).ok
    bad = dataclasses.replace(
        good,
        std=np.array([20.0, 0.01, 20.0]),
        missing=np.array([0.0, 0.0, 300.0]),
        saturated=np.array([50.0, 0.0, 0.0]),
    )
    q = assess_signal(bad, names, cfg)
    assert not q.ok
    assert q.flat_channels == ["B"] and q.saturated_channels == ["A"]
    assert any("missing" in r for r in q.reasons)


def test_assess_heart():
    cfg = QualityConfig()
    q = assess_signal(
        WindowStatistics(
            count=np.ones(1) * 100,
            std=np.ones(1) * 300,
            missing=np.zeros(1),
            saturated=np.zeros(1),
            flat_fraction=np.zeros(1),
        ),
        ["ECG"],
        cfg,
    )
    rr = np.zeros(32, np.float32)
    rr[:12] = 0.8
    assess_heart(rr, q, cfg)
    assert q.ok and q.heart_rate_bpm == pytest.approx(75.0) and q.n_beats == 12
    rr[:] = 0
    rr[:3] = 0.8
    assess_heart(rr, q, cfg)
    assert not q.ok and "too few beats" in q.reasons[0]
    q.problems.clear()
    rr[:20] = 0.2  # 300 bpm
    assess_heart(rr, q, cfg)
    assert not q.ok and "implausible heart rate" in q.reasons[0]


def test_hold_missing_replaces_nonfinite_with_previous_value():
    last = np.array([1.0, 2.0])
    x = np.array([[np.nan, 5.0, np.nan, np.inf, 7.0], [3.0, np.nan, np.nan, 4.0, np.nan]])
    v, m = hold_missing(x, last)
    np.testing.assert_array_equal(v, [[1.0, 5.0, 5.0, 5.0, 7.0], [3.0, 3.0, 3.0, 4.0, 4.0]])
    np.testing.assert_array_equal(m, ~np.isfinite(x))
    np.testing.assert_array_equal(last, [7.0, 4.0])


def _streams(names, fs=250.0, ecg="ECG"):
    chans = tuple(ChannelInfo(n, "eeg") for n in names)
    if ecg:
        chans += (ChannelInfo(ecg, "ecg"),)
    return (StreamInfo(fs, chans),)


def test_plan_lanes_maps_names_and_refuses_what_cannot_work():
    fc = FeatureConfig()
    names = list(reversed(fc.eeg_channels))
    plans = plan_lanes(_streams(names), fc)
    assert [names[r] for r in plans["eeg"].rows] == list(fc.eeg_channels)
    assert plans["ecg"].rows == (len(names),)
    with pytest.raises(ConfigurationError, match=r"T7.*--channel-map"):
        plan_lanes(_streams([n for n in names if n != "T7"]), fc)
    with pytest.raises(ConfigurationError, match="ECG"):
        plan_lanes(_streams(names, ecg=None), fc)
    with pytest.raises(ConfigurationError, match="too slow"):
        plan_lanes(_streams(names, fs=80.0), fc)
    with pytest.raises(ConfigurationError, match="rational"):
        plan_lanes(_streams(names, fs=250.0 * np.sqrt(2)), fc)


def test_loop_config_validates():
    with pytest.raises(ValueError, match="policy"):
        LoopConfig(policy="guess")
    with pytest.raises(ValueError, match="hop_s"):
        LoopConfig(hop_s=0)


def test_channel_map_parsing(tmp_path):
    pytest.importorskip("brainflow")
    from edge_emotion.brainflow_source import board_id, parse_channel_map

    assert parse_channel_map("AF3=1, F7=2,ECG=row:5") == {"AF3": 1, "F7": 2, "ECG": "row:5"}
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"O1": 7, "ECG": 16}))
    assert parse_channel_map(str(p)) == {"O1": 7, "ECG": 16}
    for bad, msg in [
        ("AF3", "NAME=CHANNEL"),
        ("AF3=x", "ExG channel number"),
        ("AF3=0", "numbered from 1"),
        ("AF3=1,AF3=2", "twice"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_channel_map(bad)
    assert board_id("cyton-daisy") == board_id("CYTON_DAISY_BOARD") == board_id("2") == 2
    with pytest.raises(ValueError, match="unknown BrainFlow board"):
        board_id("no_such_board")


def _decision(hop, abstained=False):
    if abstained:
        return Decision(
            hop=hop,
            window_end_s=hop * 0.25,
            reason=AbstainReason.NOT_ENOUGH_DATA,
            detail="warming up",
        )
    return Decision(
        hop=hop,
        window_end_s=hop * 0.25,
        probabilities={"arousal": 0.7, "valence": 0.2},
        labels={"arousal": "high", "valence": "low"},
        modalities=["eeg", "ecg"],
        latency_ms={"total": 0.4},
    )


def test_jsonl_sink_flushes_every_record(tmp_path):
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    for i in range(3):
        sink.write(_decision(i, abstained=i == 1))
        # readable before close: flushed per record
        lines = path.read_text().splitlines()
        assert len(lines) == i + 1
    sink.close()
    recs = [json.loads(s) for s in lines]
    assert [r["hop"] for r in recs] == [0, 1, 2]
    assert recs[1]["abstained"] and recs[1]["probabilities"] is None
    assert recs[1]["reason"] == "warming up"
    assert recs[1]["reason_code"] == {"name": "NOT_ENOUGH_DATA", "number": 3}
    assert recs[0]["reason_code"] == {"name": "NONE", "number": 0}
    assert recs[2]["labels"] == {"arousal": "high", "valence": "low"}


# --out JSONL (issue 15, item 3). Before: appending to a file whose last line had no
# newline glued the first new record onto it, and --out /dev/full ended in a traceback.


def test_appending_after_a_cut_last_line_starts_a_new_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text('{"hop": 0}\n{"hop": 1, "prob')  # an earlier run killed mid-record
    sink = JsonlSink(path)
    sink.write(_decision(7))
    sink.write(_decision(8))
    sink.close()
    lines = path.read_text().splitlines()
    assert lines[:2] == ['{"hop": 0}', '{"hop": 1, "prob']
    assert [json.loads(line)["hop"] for line in lines[2:]] == [7, 8]


@pytest.mark.parametrize("existing", ["", '{"hop": 0}\n'])
def test_a_file_that_ends_a_line_gets_no_blank_line(tmp_path, existing):
    path = tmp_path / "run.jsonl"
    path.write_text(existing)
    decision = _decision(1)
    sink = JsonlSink(path)
    sink.write(decision)
    sink.close()
    assert path.read_text() == existing + decision.to_json() + "\n"


def test_a_write_error_is_a_sink_error_naming_the_file(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is Linux's always-full device")
    sink = JsonlSink("/dev/full")
    with pytest.raises(SinkError, match=r"--out /dev/full: writing record 1 failed") as info:
        sink.write(_decision(0))
    assert isinstance(info.value, OSError)
    sink.close()  # nothing buffered: closing cannot fail again
    with pytest.raises(SinkError, match="is a folder"):
        JsonlSink(tmp_path)


def test_the_run_ends_with_its_summary_when_the_output_fails(capsys):
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is Linux's always-full device")
    from edge_emotion.run import main

    code = main(["--out", "/dev/full", "--duration", "20", "--quiet", "--backend", "onnxruntime"])
    captured = capsys.readouterr()
    assert code == 1
    assert "decisions" in captured.out  # the summary
    assert "ended: output failed: JsonlSink: --out /dev/full: writing record 1 failed" in (
        captured.out
    )
    assert "No space left on device" in captured.err
    assert "Traceback" not in captured.err


def test_a_source_opened_before_an_output_fails_is_stopped(tmp_path, monkeypatch, capsys):
    import edge_emotion.run as run_cli

    class OpenedSource:
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    opened = OpenedSource()
    monkeypatch.setattr(
        run_cli, "open_source", lambda args, bundle, workdir: (opened, "firmware bridge x")
    )
    out = tmp_path / "absent" / "run.jsonl"  # JsonlSink refuses it after the source opened
    argv = ["--source", "bridge:tcp://127.0.0.1:9", "--out", str(out), "--backend", "onnxruntime"]
    assert run_cli.main(argv) == 2
    assert "does not exist" in capsys.readouterr().err
    assert opened.stops == 1


def test_stdout_sink_prints_one_line_per_decision(capsys):
    sink = StdoutSink(every=1)
    sink.write(_decision(0))
    sink.write(_decision(1, abstained=True))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "arousal HIGH 0.70" in out[0] and "abstain: warming up" in out[1]


def test_lsl_outlet_can_be_received():
    pylsl = pytest.importorskip("pylsl")
    from edge_emotion.sinks import LslSink

    sink = LslSink("ee_test_outlet", ["arousal", "valence"], 0.25, source_id="ee-test-units")
    streams = pylsl.resolve_byprop("source_id", "ee-test-units", timeout=5.0)
    assert streams, "LSL outlet not visible on this host"
    inlet = pylsl.StreamInlet(streams[0])
    inlet.open_stream(timeout=5.0)
    samples = []
    for i in range(20):
        sink.write(_decision(i, abstained=i % 2 == 1))
        chunk, _ = inlet.pull_chunk(timeout=0.05)
        samples += chunk
        if len(samples) >= 4:
            break
    chunk, _ = inlet.pull_chunk(timeout=1.0)
    samples += chunk
    sink.close()
    assert len(samples) >= 2
    first = np.asarray(samples[0])
    assert first[2] in (0.0, 1.0)
    classified = [s for s in samples if s[2] == 0.0]
    assert classified and classified[0][0] == pytest.approx(0.7, abs=1e-6)
    abstained = [s for s in samples if s[2] == 1.0]
    assert all(np.isnan(s[0]) for s in abstained)
