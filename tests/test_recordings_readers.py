"""The recording readers on small generated files: EDF/BDF written by pyedflib, BrainFlow
files by DataFilter.write_file (+ sidecar), XDF by the test-only writer; and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from recording_files import (
    ecg_like,
    quantum,
    write_brainflow,
    write_edf,
    write_two_stream_xdf,
)
from xdf_writer import XdfStream, write_xdf

from edge_emotion.training.recordings import (
    ChannelNotFound,
    RecordingError,
    read_recording,
)

FS = 256.0


def _eeg(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 20.0


# ---- EDF / BDF ---------------------------------------------------------------------------


def test_edf_units_rates_names_and_annotations(tmp_path):
    n = int(4 * FS)
    fp1, t3 = _eeg(n, 1), _eeg(n, 2)
    ecg_mv = ecg_like(n // 2, FS / 2, amplitude=1.2)  # 1.2 mV R waves at 128 Hz
    path = write_edf(
        tmp_path / "rec.edf",
        [
            ("EEG Fp1", FS, fp1, "uV"),
            ("EEG T3", FS, t3, "uV"),
            ("EEG A2-A1", FS, _eeg(n, 3), "uV"),
            ("ECG ECG", FS / 2, ecg_mv, "mV"),
        ],
        annotations=((1.5, 2.0, "arithmetic"), (3.0, -1, "end")),
    )
    rec = read_recording(path)
    assert rec.format == "edf"
    assert [s.sampling_rate for s in rec.streams] == [FS, FS / 2]  # one stream per rate
    assert [(c.name, c.kind, c.unit) for c in rec.channels()] == [
        ("Fp1", "eeg", "uV"),
        ("T7", "eeg", "uV"),
        ("A2-A1", "other", "uV"),
        ("ECG", "ecg", "uV"),
    ]
    eeg = rec.eeg()
    assert eeg.names == ("Fp1", "T7")
    # EDF stores 16-bit integers: the physical value is within one quantisation step.
    np.testing.assert_allclose(eeg.data[0], fp1, atol=quantum(fp1))
    ecg = rec.ecg()
    np.testing.assert_allclose(ecg.data[0], ecg_mv * 1000.0, atol=1000.0 * quantum(ecg_mv))
    assert ecg.sampling_rate == FS / 2
    assert rec.end_s == pytest.approx(4.0)
    assert [(m.onset_s, m.duration_s, m.text) for m in rec.markers] == [
        (1.5, 2.0, "arithmetic"),
        (3.0, None, "end"),
    ]
    # Asking for the old name finds the new one; a missing electrode names the file.
    assert rec.eeg(["T3", "fp1"]).names == ("T7", "Fp1")
    with pytest.raises(ChannelNotFound, match=r"rec\.edf.*O1"):
        rec.eeg(["Fp1", "O1"])


def test_bdf_in_volts_is_read_in_microvolts(tmp_path):
    n = int(2 * FS)
    volts = _eeg(n) * 1e-6
    path = write_edf(
        tmp_path / "rec.bdf",
        [("Cz", FS, volts, "V"), ("Status", FS, np.zeros(n), "Boolean")],
        bdf=True,
    )
    rec = read_recording(path)
    assert rec.format == "bdf"
    assert [(c.name, c.kind, c.unit) for c in rec.channels()] == [
        ("Cz", "eeg", "uV"),
        ("Status", "other", "Boolean"),
    ]
    # 24-bit BDF: the error is one step of the physical range.
    np.testing.assert_allclose(rec.eeg().data[0], volts * 1e6, atol=1e6 * quantum(volts, bdf=True))


def test_unknown_unit_on_eeg_is_an_error_naming_file_and_channel(tmp_path):
    path = write_edf(tmp_path / "u.edf", [("EEG O1", FS, _eeg(512), "degC")])
    with pytest.raises(RecordingError, match=r"u\.edf: channel 'EEG O1'.*'degC'"):
        read_recording(path)


def test_file_that_is_not_what_its_extension_says(tmp_path):
    text = tmp_path / "notes.edf"
    text.write_text("subject,rating\n1,5\n" * 50)
    with pytest.raises(RecordingError, match=r"notes\.edf: not an EDF or BDF file"):
        read_recording(text)
    edf = write_edf(tmp_path / "a.edf", [("Cz", FS, _eeg(512), "uV")])
    renamed = tmp_path / "a.bdf"
    shutil.copy(edf, renamed)
    with pytest.raises(RecordingError, match=r"a\.bdf: holds a EDF header.*rename it to \.edf"):
        read_recording(renamed)
    with pytest.raises(RecordingError, match=r"unknown recording type '\.mat'"):
        (tmp_path / "x.mat").write_bytes(b"MATLAB")
        read_recording(tmp_path / "x.mat")


def test_truncated_edf_is_an_error(tmp_path):
    path = write_edf(tmp_path / "t.edf", [("Cz", FS, _eeg(2048), "uV")])
    data = path.read_bytes()
    path.write_bytes(data[:-700])
    with pytest.raises(RecordingError, match=r"t\.edf: cannot be read as EDF"):
        read_recording(path)


# ---- BrainFlow ---------------------------------------------------------------------------


def test_brainflow_file_with_converter_sidecar_is_eeg_in_microvolts(tmp_path):
    n = 1000
    exg = np.vstack([_eeg(n, i) for i in range(3)])
    path = write_brainflow(
        tmp_path / "s.csv",
        exg,
        sidecar={
            "format": "edge_emotion.recording/1",
            "master_board": "SYNTHETIC_BOARD",
            "sampling_rate": 250.0,
            "channels": ["EXG1", "EXG2", "EXG3"],
        },
        markers={100: 1.0, 600: 2.0},
    )
    rec = read_recording(path)
    assert rec.format == "brainflow"
    (stream,) = rec.streams
    assert stream.sampling_rate == 250.0
    assert [(c.name, c.kind, c.unit) for c in stream.channels] == [
        (f"EXG{i}", "eeg", "uV") for i in (1, 2, 3)
    ]
    np.testing.assert_allclose(stream.data, exg, atol=1e-6)  # 6 decimals in the file
    assert [(m.onset_s, m.text) for m in rec.markers] == [(0.4, "1"), (2.4, "2")]
    assert rec.start_time is not None and rec.start_time.year >= 2023


def test_brainflow_sidecar_roles_and_units(tmp_path):
    n = 800
    exg = np.vstack([_eeg(n, 1), _eeg(n, 2), ecg_like(n, 250.0, amplitude=1.0)])
    path = write_brainflow(
        tmp_path / "r.csv",
        exg,
        sidecar={
            "master_board": "SYNTHETIC_BOARD",
            "sampling_rate": 250.0,
            "channels": [
                {"name": "AF3", "role": "eeg", "unit": "uV"},
                {"name": "F7", "role": "eeg", "unit": "uV"},
                {"name": "chest", "role": "ecg", "unit": "mV", "exg": 3},
            ],
        },
    )
    rec = read_recording(path)
    assert rec.eeg().names == ("AF3", "F7")
    ecg = rec.ecg()
    assert ecg.names == ("chest",)
    np.testing.assert_allclose(ecg.data[0], exg[2] * 1000.0, atol=1e-3)


def test_brainflow_channel_map_and_board_defaults(tmp_path):
    n = 500
    exg = np.vstack([_eeg(n, i) for i in range(4)])
    path = write_brainflow(tmp_path / "m.csv", exg)  # no sidecar
    with pytest.raises(RecordingError, match=r"m\.csv: no sidecar .*master_board"):
        read_recording(path)
    rec = read_recording(path, master_board="SYNTHETIC_BOARD", channel_map="O1=2,ECG=4")
    assert rec.eeg().names == ("O1",)
    np.testing.assert_allclose(rec.eeg().data[0], exg[1], atol=1e-6)
    np.testing.assert_allclose(rec.ecg().data[0], exg[3], atol=1e-6)
    # Without a map: the board's own EEG names, as the runtime uses them.
    plain = read_recording(path, master_board="SYNTHETIC_BOARD")
    assert plain.eeg().names[:3] == ("Fz", "C3", "Cz")
    with pytest.raises(ChannelNotFound, match="no ECG channel"):
        plain.ecg()


def test_brainflow_bad_files(tmp_path):
    side = {"master_board": "SYNTHETIC_BOARD"}
    text = tmp_path / "t.csv"
    text.write_text("time,value\n0,1\n")
    text.with_name("t.csv.json").write_text(json.dumps(side))
    with pytest.raises(RecordingError, match=r"t\.csv: not a BrainFlow data file"):
        read_recording(text)
    binary = tmp_path / "b.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    binary.with_name("b.csv.json").write_text(json.dumps(side))
    with pytest.raises(RecordingError, match=r"b\.csv: binary content"):
        read_recording(binary)
    # Right format, wrong board: the row count does not match.
    wrong = write_brainflow(
        tmp_path / "w.csv", np.zeros((2, 50)), sidecar={"master_board": "CYTON_BOARD"}
    )
    with pytest.raises(RecordingError, match=r"w\.csv: 32 columns per line, but CYTON_BOARD"):
        read_recording(wrong)
    bad_side = write_brainflow(tmp_path / "j.csv", np.zeros((2, 50)))
    bad_side.with_name("j.csv.json").write_text("{not json")
    with pytest.raises(RecordingError, match=r"j\.csv\.json: sidecar is not valid JSON"):
        read_recording(bad_side)
    unit = write_brainflow(
        tmp_path / "u.csv",
        np.zeros((1, 50)),
        sidecar={"master_board": "SYNTHETIC_BOARD", "channels": [{"name": "Cz", "unit": "counts"}]},
    )
    with pytest.raises(RecordingError, match=r"u\.csv: channel 'Cz'.*'counts'"):
        read_recording(unit)


# ---- XDF ---------------------------------------------------------------------------------


def test_xdf_streams_units_offsets_and_markers(tmp_path):
    rec = read_recording(write_two_stream_xdf(tmp_path / "r.xdf", ecg_offset_s=0.25))
    assert rec.format == "xdf"
    eeg_stream, ecg_stream = rec.streams
    assert (eeg_stream.name, eeg_stream.sampling_rate, eeg_stream.start_s) == ("amp", 256.0, 0.0)
    assert ecg_stream.sampling_rate == 130.0
    assert ecg_stream.start_s == pytest.approx(0.25, abs=1e-9)
    assert [(c.name, c.kind) for c in eeg_stream.channels] == [
        ("Fp1", "eeg"),
        ("T7", "eeg"),
        ("A1", "other"),
    ]
    # volts -> µV: the generated EEG has a standard deviation of 20 µV.
    assert np.std(rec.eeg().data) == pytest.approx(20.0, rel=0.1)
    ecg = rec.ecg()
    assert ecg.names == ("ECG1",) and ecg.start_s == pytest.approx(0.25)
    n_ecg = ecg.data.shape[1]
    np.testing.assert_allclose(ecg.data[0], 1000.0 * ecg_like(n_ecg, 130.0), atol=1e-9)
    assert [(round(m.onset_s, 6), m.text) for m in rec.markers] == [(1.0, "rest"), (3.5, "task")]


def test_xdf_break_becomes_nan_and_long_break_is_an_error(tmp_path):
    # pyxdf splits a stream at a break of at least 1 s and 500 samples (its defaults;
    # shorter ones it treats as time-stamp jitter): 7 s here.
    fs = 100.0
    stamps = np.concatenate((np.arange(300), np.arange(1000, 1300))) / fs
    values = np.ones((stamps.size, 1))
    stream = XdfStream("amp", "EEG", fs, values, 10 + stamps, "double64", ["Cz"], ["uV"])
    rec = read_recording(write_xdf(tmp_path / "g.xdf", [stream]))
    data = rec.streams[0].data[0]
    assert data.size == 1300
    assert np.flatnonzero(np.isnan(data)).tolist() == list(range(300, 1000))
    assert rec.streams[0].missing.sum() == 700
    from edge_emotion.training.recordings import read_xdf

    with pytest.raises(RecordingError, match=r"g\.xdf: stream 'amp': breaks add up to 7\.0 s"):
        read_xdf(tmp_path / "g.xdf", max_gap_s=5.0)


def test_xdf_without_units_needs_default_unit(tmp_path):
    stream = XdfStream(
        "amp", "EEG", 100.0, np.ones((200, 2)), np.arange(200) / 100.0, labels=["C3", "C4"]
    )
    path = write_xdf(tmp_path / "n.xdf", [stream])
    with pytest.raises(
        RecordingError, match=r"n\.xdf: stream 'amp' channel 'C3'.*no physical unit"
    ):
        read_recording(path)
    rec = read_recording(path, default_unit="mV")
    np.testing.assert_allclose(rec.eeg().data, 1000.0)


def test_corrupt_xdf_is_an_error(tmp_path):
    path = write_two_stream_xdf(tmp_path / "c.xdf")
    data = bytearray(path.read_bytes())
    data[600:640] = b"\xff" * 40  # inside the first samples chunk
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"c\.xdf"):
        read_recording(path)
    fake = tmp_path / "f.xdf"
    fake.write_text("<xml>not xdf</xml>")
    with pytest.raises(RecordingError, match=r"f\.xdf: not an XDF file"):
        read_recording(fake)
