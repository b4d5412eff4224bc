"""Synthetic physiology (edge_emotion.synthetic): QRS complexes the R-peak detector finds,
heart rate and HRV as asked, EEG band structure that follows the state."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from edge_emotion.kernels import detect_rpeaks
from edge_emotion.synthetic import (
    arousal_heart_rate,
    recording_streams,
    synthetic_ecg,
    synthetic_eeg,
    synthetic_recording,
)


def test_ecg_has_detectable_qrs_and_hrv_that_follows_arousal():
    from edge_emotion.kernels import detect_rpeaks

    fs = 250.0
    ecg, truth = synthetic_ecg(60.0, fs, np.random.default_rng(3), arousal_heart_rate())
    found = detect_rpeaks(ecg, fs)
    tol = round(0.05 * fs)
    d = np.abs(found[:, None] - truth[None, :]).min(axis=0)
    assert (d <= tol).mean() >= 0.98  # sensitivity
    d2 = np.abs(truth[:, None] - found[None, :]).min(axis=0)
    assert (d2 <= tol).mean() >= 0.98  # positive predictivity
    rr = np.diff(truth) / fs
    calm, aroused = rr[truth[1:] < 9 * fs], rr[(truth[1:] > 14 * fs) & (truth[1:] < 38 * fs)]
    assert 60 / calm.mean() < 70 < 60 / aroused[aroused < 2].mean()  # HR follows arousal
    assert np.std(np.diff(calm)) > 0.005  # beat-to-beat variability is present


def test_eeg_band_structure_follows_state():
    fs = 250.0
    names = ("AF3", "F7", "O1", "O2", "F4", "AF4")
    x = synthetic_eeg(names, 60.0, fs, np.random.default_rng(4))

    def power(ch, lo, hi, a, b):
        f, p = welch(x[ch, round(a * fs) : round(b * fs)], fs, nperseg=512)
        return p[(f >= lo) & (f < hi)].sum()

    o1 = names.index("O1")
    af3 = names.index("AF3")
    # Alpha is occipital and falls with arousal; beta rises with arousal.
    assert power(o1, 8, 13, 0, 9) > 2 * power(o1, 8, 13, 14, 38)
    assert power(o1, 8, 13, 0, 9) > 2 * power(af3, 8, 13, 0, 9)
    assert power(af3, 14, 30, 14, 38) > 1.5 * power(af3, 14, 30, 0, 9)


@pytest.mark.parametrize(("fs", "bpm"), [(128.0, 55.0), (250.0, 70.0), (500.0, 120.0)])
def test_constant_heart_rate_is_the_one_asked_for(fs, bpm):
    ecg, truth = synthetic_ecg(60.0, fs, np.random.default_rng(int(bpm)), heart_rate_bpm=bpm)
    assert ecg.shape == (round(60.0 * fs),) and truth.dtype == np.int64
    assert np.all(np.diff(truth) > 0) and truth[-1] < ecg.size
    assert 60.0 * fs / np.diff(truth).mean() == pytest.approx(bpm, rel=0.02)
    # the detector finds every true R peak (away from the ends, where it lacks context)
    found = detect_rpeaks(ecg, fs)
    inner = truth[(truth > fs) & (truth < ecg.size - fs)]
    assert np.abs(found[:, None] - inner[None, :]).min(axis=0).max() <= round(0.02 * fs)


def test_same_generator_state_same_signal():
    a = synthetic_recording(("O1", "O2"), 5.0, 250.0, np.random.default_rng(9))
    b = synthetic_recording(("O1", "O2"), 5.0, 250.0, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 1250)
    (stream,) = recording_streams(("O1", "O2"), 250.0)
    assert [c.role for c in stream.channels] == ["eeg", "eeg", "ecg"]
    assert stream.names() == ["O1", "O2", "ECG"] and stream.sampling_rate == 250.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="duration_s and fs must be positive"):
        synthetic_ecg(0.0, 250.0, np.random.default_rng(0))
