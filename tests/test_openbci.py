"""OpenBCI GUI text reader: the real sample recording and small files in the same format."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.openbci import OpenBCIRecording, read_openbci_gui_txt

HEADER = (
    "%OpenBCI Raw EXG Data\n"
    "%Number of channels = 4\n"
    "%Sample Rate = 200 Hz\n"
    "%Board = OpenBCI_GUI$BoardGanglionBLE\n"
)
NO_RATE = HEADER.replace("%Sample Rate = 200 Hz\n", "")
COLUMNS = (
    "Sample Index, EXG Channel 0, EXG Channel 1, EXG Channel 2, EXG Channel 3, "
    "Accel Channel 0, Accel Channel 1, Accel Channel 2, Other, Timestamp, Marker Channel, "
    "Timestamp (Formatted)\n"
)


def _rows(n, rng):
    eeg = rng.normal(0, 20, size=(4, n)).round(2)
    lines = []
    for i in range(n):
        vals = ", ".join(f"{v:.2f}" for v in eeg[:, i])
        marker = 3 if i == 5 else 0
        lines.append(
            f"{i % 256}, {vals}, 0.01, 0.02, 0.98, 0, {1557936053329 + 5 * i}, {marker}, "
            f"12:00:53.{329 + 5 * i:03d}\n"
        )
    return eeg, "".join(lines)


def test_reads_a_file_in_the_gui_format(tmp_path):
    rng = np.random.default_rng(0)
    eeg, body = _rows(40, rng)
    path = tmp_path / "OpenBCI-RAW-test.txt"
    path.write_text(HEADER + COLUMNS + body)
    rec = read_openbci_gui_txt(path)
    assert isinstance(rec, OpenBCIRecording)
    assert rec.fs == 200.0 and rec.board == "OpenBCI_GUI$BoardGanglionBLE"
    np.testing.assert_array_equal(rec.eeg, eeg)
    assert rec.eeg.dtype == np.float64 and rec.eeg.flags.c_contiguous
    assert rec.channel_names == tuple(f"EXG Channel {k}" for k in range(4))
    np.testing.assert_allclose(rec.timestamps, (1557936053329 + 5 * np.arange(40)) / 1000.0)
    np.testing.assert_allclose(rec.accel[2], 0.98)
    assert rec.markers[5] == 3 and rec.markers.sum() == 3
    assert rec.n_samples == 40 and rec.duration_s == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("time,ch1,ch2\n0,1,2\n", "not an OpenBCI GUI recording"),
        (
            HEADER.replace("%Sample Rate = 200 Hz\n", "") + COLUMNS + "0, 1, 2, 3, 4\n",
            "Sample Rate",
        ),
        (HEADER.replace("= 4", "= 5") + COLUMNS, "EXG Channel 4"),
        (HEADER + "0, 1, 2\n", "Sample Index"),
        (HEADER + COLUMNS, "no data rows"),
        (HEADER + COLUMNS + "0, 1, 2, x, 4, 0.1, 0.2, 0.3, 0, 155, 0, 12:00\n", "malformed"),
        (HEADER + COLUMNS + "0, 1, 2, 3\n", "malformed"),
    ],
)
def test_rejects_files_not_in_the_format(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_openbci_gui_txt(path)


def test_rejects_a_missing_path(tmp_path):
    with pytest.raises(ValueError, match="path"):
        read_openbci_gui_txt(tmp_path / "nope.txt")


def test_reads_the_real_cyton_recording(shared_data):
    rec = read_openbci_gui_txt(
        shared_data / "openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    )
    assert rec.fs == 250.0
    assert rec.eeg.shape == (8, 22490)
    assert rec.duration_s == pytest.approx(89.96)
    # Cyton packet counter wraps at 256 and no packet was lost
    assert np.all(np.diff(rec.sample_index) % 256 == 1)
    # packet time stamps: non-decreasing, spanning the recording's length
    assert np.all(np.diff(rec.timestamps) >= 0)
    assert rec.timestamps[-1] - rec.timestamps[0] == pytest.approx(rec.duration_s, abs=0.5)
    # accelerometer in g: the board at rest, |a| near 1 g
    norm = np.linalg.norm(rec.accel, axis=0)
    assert 0.7 < np.median(norm) < 1.3
    # µV with the large DC offsets of un-referenced Cyton inputs, tens of µV of EEG on top
    assert np.all(np.abs(rec.eeg.mean(axis=1)) < 1e5)
    assert np.all(np.std(np.diff(rec.eeg, axis=1), axis=1) < 1e3)
    assert not rec.markers.any()
