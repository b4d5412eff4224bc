"""``--out`` JSONL (issue 15, item 3): records always start on a line of their own, and a
file that cannot be written ends the run with its summary and a non-zero status.

Before: appending to a file whose last line had no newline glued the first new record
onto it, and ``--out /dev/full`` ended in a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_emotion.decision import Decision
from edge_emotion.run import main
from edge_emotion.sinks import JsonlSink, SinkError


def _decision(hop: int) -> Decision:
    return Decision(
        hop=hop,
        window_end_s=hop * 0.25,
        probabilities={"arousal": 0.7, "valence": 0.2},
        labels={"arousal": "high", "valence": "low"},
        modalities=["eeg", "ecg"],
        latency_ms={"total": 0.4},
    )


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
    code = main(["--out", "/dev/full", "--duration", "20", "--quiet", "--backend", "onnxruntime"])
    captured = capsys.readouterr()
    assert code == 1
    assert "decisions" in captured.out  # the summary
    assert "ended: an output failed: --out /dev/full: writing record 1 failed" in captured.out
    assert "No space left on device" in captured.err
    assert "Traceback" not in captured.err
