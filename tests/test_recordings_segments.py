"""The labels table joined with the recordings (training/recordings/segments.py): every
format in one data folder, rates that differ, and every kind of bad input counted or
refused with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from recording_files import ecg_like, write_brainflow, write_edf
from xdf_writer import XdfStream, write_xdf

from edge_emotion.training.recordings import (
    LabelsError,
    SegmentRequest,
    load_labelled_segments,
)

SECONDS = 30.0
HEADER = "recording,subject,start_s,end_s,arousal"


def _eeg(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 15.0


def _edf(path, fs: float, with_ecg: bool = True, bdf: bool = False):
    n = int(SECONDS * fs)
    signals = [(f"EEG {name}", fs, _eeg(n, i), "uV") for i, name in enumerate(("Fp1", "O1", "O2"))]
    if with_ecg:
        signals.append(("ECG ECG", fs, ecg_like(n, fs), "mV"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_edf(path, signals, bdf=bdf)


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    _edf(root / "s01" / "rest.edf", 500.0)
    _edf(root / "s01" / "task.bdf", 256.0, bdf=True)
    n = int(SECONDS * 250)
    (root / "s02").mkdir()
    write_brainflow(
        root / "s02" / "board.csv",
        np.vstack([_eeg(n, 5), _eeg(n, 6), _eeg(n, 7), ecg_like(n, 250.0) * 1000]),
        sidecar={
            "master_board": "SYNTHETIC_BOARD",
            "sampling_rate": 250.0,
            "channels": ["O2", "Fp1", "O1", {"name": "ECG", "role": "ecg", "unit": "uV"}],
        },
    )
    _edf(root / "s03" / "no_ecg.edf", 256.0, with_ecg=False)
    # An XDF stream with a 5-s break from 10 s to 15 s.
    fs = 128.0
    stamps = np.concatenate((np.arange(0, 1280), np.arange(1920, 3840))) / fs
    values = np.column_stack(
        [
            _eeg(stamps.size, 8),
            _eeg(stamps.size, 9),
            _eeg(stamps.size, 10),
            ecg_like(stamps.size, fs),
        ]
    )
    (root / "s04").mkdir()
    write_xdf(
        root / "s04" / "gap.xdf",
        [
            XdfStream(
                "amp",
                "EEG",
                fs,
                values,
                100 + stamps,
                "double64",
                ["Fp1", "O1", "O2", "ECG"],
                ["uV"] * 3 + ["mV"],
            )
        ],
    )
    (root / "s05").mkdir()
    (root / "s05" / "corrupt.edf").write_text("this is not EDF\n" * 40)
    return root


def _labels(tmp_path, rows: str):
    path = tmp_path / "labels.csv"
    path.write_text(f"{HEADER}\n{rows}", encoding="utf-8")
    return path


def test_every_format_with_counted_skips(tmp_path, data_dir):
    labels = _labels(
        tmp_path,
        "s01/rest.edf,s01,,,2\n"
        "s01/task.bdf,s01,5,25,8\n"
        "s02/board.csv,s02,,,6\n"
        "s03/no_ecg.edf,s03,,,4\n"
        "s04/gap.xdf,s04,,,7\n"
        "s04/gap.xdf,s04,16,30,7\n"
        "s05/corrupt.edf,s05,,,3\n",
    )
    request = SegmentRequest(("O1", "O2", "Fp1"), threshold=5.0)
    lines = []
    segments, summary = load_labelled_segments(data_dir, labels, request, progress=lines.append)
    assert [(s.recording, s.line) for s in segments] == [
        ("s01/rest.edf", 2),
        ("s01/task.bdf", 3),
        ("s02/board.csv", 4),
        ("s04/gap.xdf", 7),
    ]
    assert [int(s.labels[0]) for s in segments] == [0, 1, 1, 1]
    assert segments[0].ratings == (2.0,)
    for s in segments:
        assert s.signals.eeg_channels == ("O1", "O2", "Fp1")
        assert s.signals.eeg.shape[0] == 3 and s.signals.ecg is not None
    rest, task, board, gap = segments
    assert rest.signals.eeg.shape[1] == 30 * 128 and (rest.start_s, rest.end_s) == (0.0, 30.0)
    assert task.signals.eeg.shape[1] == 20 * 128 and (task.start_s, task.end_s) == (5.0, 25.0)
    assert (gap.start_s, gap.end_s) == (16.0, 30.0)
    # mV in the EDF and µV in the BrainFlow file both arrive in µV.
    assert 900 < rest.signals.ecg.max() < 1100 and 900 < board.signals.ecg.max() < 1100
    reasons = {(r, line): reason for r, line, reason, _ in summary.skipped}
    assert reasons == {
        ("s03/no_ecg.edf", 5): "missing_channel",
        ("s04/gap.xdf", 6): "missing_samples",
        ("s05/corrupt.edf", 8): "unreadable",
    }
    detail = {r: d for r, _, _, d in summary.skipped}
    assert "no ECG channel" in detail["s03/no_ecg.edf"]
    assert "% of the samples in 0-30 s are missing" in detail["s04/gap.xdf"]
    assert "not an EDF or BDF file" in detail["s05/corrupt.edf"]
    # Differing rates are allowed and reported.
    assert dict(summary.source_rates["eeg"]) == {500.0: 1, 256.0: 1, 250.0: 1, 128.0: 1}
    assert summary.resampled["eeg"] == [250.0, 256.0, 500.0]
    assert summary.segments == 4 and len(summary.recordings) == 5
    text = str(summary)
    assert "4 segments, 3 skipped" in text and "missing_channel: 1" in text
    assert summary.to_dict()["skipped_by_reason"] == {
        "missing_channel": 1,
        "missing_samples": 1,
        "unreadable": 1,
    }
    assert len(lines) == 5 and lines[0].startswith("[1/6] s01/rest.edf")


def test_gap_tolerated_when_allowed(tmp_path, data_dir):
    labels = _labels(tmp_path, "s04/gap.xdf,s04,,,1\n")
    request = SegmentRequest(("O1",), max_missing_fraction=0.5)
    (seg,), summary = load_labelled_segments(data_dir, labels, request)
    assert 0.15 < seg.signals.missing_fraction < 0.3 and not summary.skipped
    assert np.isfinite(seg.signals.eeg).all()  # held, and marked in eeg_missing


def test_all_eeg_channels_of_the_first_recording(tmp_path, data_dir):
    labels = _labels(tmp_path, "s01/rest.edf,s01,,,1\ns02/board.csv,s02,,,0\n")
    segments, summary = load_labelled_segments(data_dir, labels, SegmentRequest(None))
    assert summary.eeg_channels == ("Fp1", "O1", "O2")
    assert [s.signals.eeg_channels for s in segments] == [("Fp1", "O1", "O2")] * 2


def test_ecg_not_needed(tmp_path, data_dir):
    labels = _labels(tmp_path, "s03/no_ecg.edf,s03,,,1\n")
    (seg,), _ = load_labelled_segments(data_dir, labels, SegmentRequest(("O1",), need_ecg=False))
    assert seg.signals.ecg is None and seg.signals.source_rates == {"eeg": 256.0}


def test_unknown_recordings_are_one_error_listing_them(tmp_path, data_dir):
    labels = _labels(
        tmp_path, "s01/rest.edf,s01,,,1\ns09/missing.edf,s09,,,1\ns01/Rest.EDF,s01,,,0\n"
    )
    with pytest.raises(
        LabelsError,
        match=r"2 recording\(s\) not found .*line 3: s09/missing\.edf; line 4: s01/Rest\.EDF",
    ):
        load_labelled_segments(data_dir, labels, SegmentRequest(("O1",)))


def test_labels_outside_the_recording_are_an_error(tmp_path, data_dir):
    labels = _labels(tmp_path, "s01/rest.edf,s01,20,45,1\ns01/task.bdf,s01,31,40,1\n")
    with pytest.raises(
        LabelsError,
        match=r"2 labelled span\(s\) outside .*line 2: span 20-45 s is outside s01/rest\.edf "
        r"\(0-30 s\)",
    ):
        load_labelled_segments(data_dir, labels, SegmentRequest(("O1",)))


def test_too_short_and_ratings_without_threshold(tmp_path, data_dir):
    labels = _labels(tmp_path, "s01/rest.edf,s01,0,5,1\n")
    segments, summary = load_labelled_segments(
        data_dir, labels, SegmentRequest(("O1",), min_duration_s=10.0)
    )
    assert not segments and summary.skipped_by_reason == {"too_short": 1}
    rated = _labels(tmp_path, "s01/rest.edf,s01,,,7\n")
    with pytest.raises(LabelsError, match="holds ratings"):
        load_labelled_segments(data_dir, rated, SegmentRequest(("O1",)))
