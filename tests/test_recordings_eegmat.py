"""The readers on real EDF+ files: PhysioNet eegmat in ../shared/data/eegmat (skipped when
absent). 21 signals at 500 Hz: 19 EEG (``EEG Fp1``, ``EEG T3``...), ``EEG A2-A1``,
``ECG ECG`` in mV."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.kernels import FeatureConfig, detect_rpeaks, hrv_time, trial_features
from edge_emotion.training.recordings import (
    SegmentRequest,
    load_labelled_segments,
    model_rate_signals,
    read_recording,
)

pytestmark = pytest.mark.shared_data

TEN_TWENTY = (
    "Fp1 Fp2 F3 F4 F7 F8 T7 T8 C3 C4 P7 P8 P3 P4 O1 O2 Fz Cz Pz".split()  # noqa: SIM905
)


@pytest.fixture(scope="module")
def eegmat(shared_data):
    folder = shared_data / "eegmat"
    if not (folder / "Subject00_1.edf").is_file():
        pytest.skip(f"eegmat not found in {folder}")
    return folder


def test_channels_units_and_span(eegmat):
    import pyedflib

    path = eegmat / "Subject00_1.edf"
    rec = read_recording(path)
    assert rec.format == "edf" and len(rec.streams) == 1
    assert rec.streams[0].sampling_rate == 500.0
    assert rec.end_s == pytest.approx(182.0)
    assert rec.start_time is not None and rec.start_time.year == 2011
    assert list(rec.eeg().names) == TEN_TWENTY  # T3/T4/T5/T6 renamed, A2-A1 left out
    kinds = {c.name: c.kind for c in rec.channels()}
    assert kinds["A2-A1"] == "other" and kinds["ECG"] == "ecg"
    ecg = rec.ecg()
    with pyedflib.EdfReader(str(path)) as raw:
        assert raw.getPhysicalDimension(20) == "mV"
        np.testing.assert_array_equal(ecg.data[0], raw.readSignal(20) * 1000.0)
        assert raw.getPhysicalDimension(0) == "uV"
        np.testing.assert_array_equal(rec.eeg(["Fp1"]).data[0], raw.readSignal(0))
    # Plausible amplitudes in µV: EEG tens of µV, an ECG lead of a few hundred.
    assert 2 < np.median(np.std(rec.eeg().data, axis=1)) < 100
    assert 20 < np.ptp(ecg.data[0]) / 10 < 2000


def test_heart_rate_rises_from_rest_to_arithmetic_at_the_model_rate(eegmat):
    # Subject00's ECG is clean in both files (scripts/eegmat_first_look.py): 76 -> 100 bpm.
    rates = []
    for k in (1, 2):
        rec = read_recording(eegmat / f"Subject00_{k}.edf")
        sig = model_rate_signals(rec, ["O1", "O2"], True, 128.0, 128.0)
        assert sig.source_rates == {"eeg": 500.0, "ecg": 500.0}
        peaks = detect_rpeaks(sig.ecg, 128.0)
        native = detect_rpeaks(rec.ecg().data[0], 500.0)
        assert abs(peaks.size - native.size) <= 1  # 500 -> 128 Hz keeps every beat
        rates.append(hrv_time(peaks, 128.0, correction="local_median")["HR"])
    rest, task = rates
    assert 60 < rest < 90 and task > rest + 15


def test_features_of_a_labelled_table(tmp_path, eegmat):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "recording,subject,start_s,end_s,arousal\n"
        "Subject00_1.edf,Subject00,60,120,0\n"
        "Subject00_2.edf,Subject00,,,1\n",
        encoding="utf-8",
    )
    config = FeatureConfig(eeg_channels=("O1", "O2", "T7", "Fz"))
    request = SegmentRequest(config.eeg_channels, eeg_fs=config.eeg_fs, ecg_fs=config.ecg_fs)
    segments, summary = load_labelled_segments(eegmat, labels, request)
    assert str(summary).startswith("2 recordings, 2 segments, 0 skipped")
    assert dict(summary.source_rates["eeg"]) == {500.0: 2}
    assert [int(s.labels[0]) for s in segments] == [0, 1]
    rest, task = segments
    assert rest.signals.eeg.shape == (4, 60 * 128) and rest.start_s == 60.0
    # A blank span is the whole recording (Subject00_2.edf: 62 s).
    assert task.start_s == 0.0 and task.end_s == pytest.approx(62.0)
    assert task.signals.eeg.shape == (4, 62 * 128) and task.signals.ecg.shape == (62 * 128,)
    for seg in segments:
        ends = np.arange(config.window_s, seg.signals.duration_s + 1e-9, 5.0)
        de, hrv = trial_features(seg.signals.eeg, seg.signals.ecg, config, ends)
        assert de.shape == (ends.size, *config.eeg_shape) and np.isfinite(de).all()
        assert np.isfinite(hrv).all() and (hrv[:, 0] > 0.3).all()  # RR in s
