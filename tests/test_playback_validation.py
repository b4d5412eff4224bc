"""A playback file the board would not play is refused before the run starts (issue 15,
items 7 and 8), and a recording whose last line is cut still ends.

Before: garbage, binary, too-narrow or empty files looped forever on "no data for 5 s;
reconnecting" (an empty one even suggested checking the serial port), and a file whose
last line was cut replayed forever, because the line count included the partial line
that BrainFlow drops.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("brainflow")

from edge_emotion.demo_recording import write_synthetic_demo_recording
from edge_emotion.playback import playback_config, recording_samples
from edge_emotion.run import main

MASTER = "SYNTHETIC_BOARD"  # 32 rows, timestamp in row 30, 250 Hz


def _recording(tmp_path: Path, n: int = 50, edit=None) -> Path:
    from brainflow.data_filter import DataFilter

    data = np.zeros((32, n))
    data[30] = np.arange(n) / 250.0
    if edit is not None:
        edit(data)
    path = tmp_path / "rec.csv"
    DataFilter.write_file(data, str(path), "w")
    return path


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "rec.csv"
    path.write_bytes(content)
    return path


BAD_FILES = {
    "empty": (lambda t: _write(t, b""), "is empty"),
    "binary": (lambda t: _write(t, os.urandom(3000) + b"\n"), "not a BrainFlow data file"),
    "nul bytes": (lambda t: _write(t, b"\0" * 200), "binary data"),
    "text": (lambda t: _write(t, b"hello\tworld\n"), "not numbers: 'hello\\tworld'"),
    "too narrow": (lambda t: _write(t, b"1\t2\t3\n4\t5\t6\n"), "has 3 values per line"),
    "too wide": (
        lambda t: _write(t, ("\t".join(["1"] * 40) + "\n").encode()),
        "has 40 values per line; SYNTHETIC_BOARD records 32",
    ),
    "blank line": (
        lambda t: _write(t, _recording(t).read_bytes().replace(b"\n", b"\n\n", 1)),
        "line 2 is blank",
    ),
    "gap": (
        lambda t: _recording(t, edit=lambda d: d.__setitem__((30, slice(20, None)), 60.0)),
        "the timestamps jump by",
    ),
    "nan timestamp": (
        lambda t: _recording(t, edit=lambda d: d.__setitem__((30, 7), np.nan)),
        "NaN or infinite values at sample 8",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_file_the_playback_board_would_not_play_is_refused(tmp_path, case):
    make, expected = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(ValueError, match="recording: ") as info:
        playback_config(path, MASTER, loop=True)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_the_run_says_what_is_wrong_instead_of_waiting_for_data(tmp_path, capsys):
    path = _write(tmp_path, b"")
    argv = ["--source", f"playback:{path}", "--master-board", MASTER, "--duration", "30"]
    assert main([*argv, "--channel-map", "AF3=1,ECG=16"]) == 2
    err = capsys.readouterr().err
    assert f"error: recording: {path} is empty" in err
    assert "serial port" not in err and "reconnecting" not in err


def test_the_sample_count_is_what_brainflow_loads_not_the_line_count(tmp_path):
    path = _recording(tmp_path, n=50)
    text = path.read_bytes()
    path.write_bytes(text + text.splitlines()[0][:25])  # a last line cut short
    assert recording_samples(path, MASTER) == 50
    assert playback_config(path, MASTER).file_rows == 50


def test_a_recording_with_a_cut_last_line_reaches_the_end(tmp_path):
    rec = write_synthetic_demo_recording(tmp_path / "r.csv", duration_s=2.0)
    text = rec.path.read_bytes()
    rec.path.write_bytes(text + text.splitlines()[-1][:37])
    cmap = ",".join(f"{k}={v}" for k, v in rec.channel_map.items())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_emotion.run",
            "--source",
            f"playback:{rec.path}",
            "--master-board",
            rec.master_board,
            "--channel-map",
            cmap,
            "--bundle",
            "synthetic-demo",  # the recording's 14 Emotiv channels
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ended: end of recording" in proc.stdout
    assert "reconnecting" not in proc.stderr
