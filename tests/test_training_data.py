"""AMIGOS loader, synthetic generator, labels, segmentation and the feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat
from scipy.signal import welch

from edge_emotion.training.data import (
    DatasetConfig,
    cache_path,
    load_feature_arrays,
    prepare_features,
    window_ends,
)
from edge_emotion.training.datasets.amigos import (
    AMIGOS_EEG_CHANNELS,
    AmigosConfig,
    find_amigos_files,
    load_amigos,
)
from edge_emotion.training.datasets.synthetic import (
    LEFT_FRONTAL,
    RIGHT_FRONTAL,
    SyntheticConfig,
    _ecg,
    _eeg,
    _subject_params,
    generate_subject,
    is_synthetic,
    write_amigos_layout,
)
from edge_emotion.training.feature_cache import LabelConfig, binarize_ratings, read_cache

SMALL = SyntheticConfig(n_subjects=3, n_trials=3, min_trial_s=16.0, max_trial_s=22.0, seed=7)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("amigos_synth")
    write_amigos_layout(SMALL, root, layout="per_participant")
    return root


def _cell(items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, x in enumerate(items):
        cell[0, i] = x
    return cell


def test_loader_reads_hand_made_file_arousal_first_and_counts_skips(tmp_path):
    n = 128 * 20
    rng = np.random.default_rng(0)
    good = rng.normal(size=(n, 17))
    nan_trial = good.copy()
    nan_trial[100, 3] = np.nan
    nan_in_gsr = good.copy()
    nan_in_gsr[:, 16] = np.nan  # GSR is not used: the trial stays
    short = good[: 128 * 8]
    right_nan = good.copy()
    right_nan[:, 14] = np.nan  # the chosen lead is lost, the left lead is clean
    both_nan = right_nan.copy()
    both_nan[5, 15] = np.nan
    joined = [good, np.zeros((0, 0)), nan_trial, short, nan_in_gsr, right_nan, both_nan]
    joined += [np.zeros((0, 0))] * 13
    labels = [np.array([[2.0, 8.0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]])] * 20
    labels[4] = np.array([[7.5, 3.0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]])
    savemat(
        tmp_path / "Data_Preprocessed_P05.mat",
        {
            "joined_data": _cell(joined),
            "labels_selfassessment": _cell(labels),
            "labels_ext_annotation": _cell([np.zeros((0, 0))] * 20),
            "VideoIDs": _cell([np.array(["10"])] * 20),
        },
    )
    trials, summary = load_amigos(AmigosConfig(str(tmp_path)))
    assert [(t.subject, t.index) for t in trials] == [("P05", 0), ("P05", 4), ("P05", 5)]
    assert (trials[0].arousal, trials[0].valence) == (2.0, 8.0)
    assert (trials[1].arousal, trials[1].valence) == (7.5, 3.0)
    np.testing.assert_array_equal(trials[0].eeg, good[:, :14].T)
    np.testing.assert_array_equal(trials[0].ecg, good[:, 14])
    # per trial, a NaN chosen lead gives way to the clean other lead, counted
    assert [t.ecg_lead for t in trials] == ["right", "right", "left"]
    np.testing.assert_array_equal(trials[2].ecg, good[:, 15])
    assert summary.ecg_lead_fallback == [("P05", 5, "left")]
    assert summary.to_dict()["ecg_lead_fallback"] == 1
    assert "1 with the other ECG lead" in str(summary)
    left, left_summary = load_amigos(AmigosConfig(str(tmp_path), ecg_lead="left"))
    np.testing.assert_array_equal(left[0].ecg, good[:, 15])
    assert [t.ecg_lead for t in left] == ["left"] * 3 and left_summary.ecg_lead_fallback == []
    assert summary.skipped_by_reason == {"empty": 10, "nan_eeg": 1, "too_short": 1, "nan_ecg": 1}
    assert summary.loaded == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no Data_Preprocessed"):
        find_amigos_files(empty)
    with pytest.raises(ValueError, match="not a folder"):
        find_amigos_files(tmp_path / "missing")


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="ecg_lead"):
        AmigosConfig("x", ecg_lead="middle")
    with pytest.raises(ValueError, match="label method"):
        LabelConfig("mode")
    with pytest.raises(ValueError, match="n_trials"):
        SyntheticConfig(n_trials=21)


def test_synthetic_files_round_trip_through_the_real_loader(synth_root):
    assert is_synthetic(synth_root)
    assert len(find_amigos_files(synth_root)) == 3
    trials, summary = load_amigos(AmigosConfig(str(synth_root)))
    assert summary.loaded == 9 and summary.skipped_by_reason == {"empty": 39}
    marker = json.loads((synth_root / "SYNTHETIC.json").read_text())
    assert marker["synthetic"] is True and "NOT emotion" in marker["note"]
    again = generate_subject(SMALL, 1)  # same seed -> same content
    for t in trials:
        if t.subject == "P02":
            lab = again["labels_selfassessment"][t.index].ravel()
            assert (t.arousal, t.valence) == (lab[0], lab[1])
            np.testing.assert_allclose(t.eeg, again["joined_data"][t.index][:, :14].T)


def test_synthetic_physiology_moves_with_arousal_and_valence():
    import neurokit2 as nk

    fs, n = 128.0, 128 * 60
    params = _subject_params(np.random.default_rng(1))
    rng = np.random.default_rng(2)
    hr = {}
    for a in (-1.0, 1.0):
        ecg = _ecg(rng, n, fs, a, params, 1.0)
        _, info = nk.ecg_peaks(ecg, sampling_rate=int(fs))
        hr[a] = 60.0 * fs / np.diff(info["ECG_R_Peaks"]).mean()
    assert hr[1.0] - hr[-1.0] > 10.0  # planted: +-10 bpm

    def band(x, lo, hi):
        f, p = welch(x, fs=fs, nperseg=256, axis=-1)
        return p[:, (f >= lo) & (f < hi)].sum(axis=1)

    calm = _eeg(np.random.default_rng(3), n, fs, -1.0, 0.0, params, 1.0)
    excited = _eeg(np.random.default_rng(3), n, fs, 1.0, 0.0, params, 1.0)
    rel = lambda x: band(x, 8, 12) / band(x, 2, 40)  # noqa: E731
    assert np.median(rel(excited) / rel(calm)) < 0.8  # alpha desynchronisation
    left = [AMIGOS_EEG_CHANNELS.index(c) for c in LEFT_FRONTAL]
    right = [AMIGOS_EEG_CHANNELS.index(c) for c in RIGHT_FRONTAL]

    def asymmetry(v):
        x = _eeg(np.random.default_rng(4), n, fs, 0.0, v, params, 1.0)
        a = np.log(band(x, 8, 12))
        return a[right].mean() - a[left].mean()

    assert asymmetry(1.0) - asymmetry(-1.0) > 0.3  # frontal alpha asymmetry with valence


def test_binarize_fixed_and_per_subject():
    r = np.array([[5.0, 4.9], [4.9, 5.0], [8.0, 2.0], [2.0, 8.0], [6.0, 6.0]])
    g = np.array([0, 0, 1, 1, 1])
    np.testing.assert_array_equal(
        binarize_ratings(r, g, LabelConfig()), [[1, 0], [0, 1], [1, 0], [0, 1], [1, 1]]
    )
    mean = binarize_ratings(r, g, LabelConfig("subject_mean"))
    np.testing.assert_array_equal(mean[:, 0], [1, 0, 1, 0, 1])  # subject 1 mean arousal 5.33
    med = binarize_ratings(r, g, LabelConfig("subject_median"))
    np.testing.assert_array_equal(med[2:, 1], [0, 1, 1])


def test_window_ends_fit_inside_the_trial():
    ends = window_ends(128 * 27, 128.0, 10.0, 2.0, 5.0)
    np.testing.assert_allclose(ends, [15, 17, 19, 21, 23, 25, 27])
    assert window_ends(128 * 14, 128.0, 10.0, 2.0, 5.0).size == 0


@pytest.mark.slow
def test_feature_cache_uses_the_kernel_path_and_is_reused(synth_root, tmp_path):
    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.kernels.features import trial_features

    fc = FeatureConfig()
    ds = DatasetConfig(root=str(synth_root), cache_dir=str(tmp_path / "c"), segment_hop_s=3.0)
    arrays, path, cached = prepare_features(ds, fc, progress=False)
    assert not cached and path == cache_path(ds, fc)
    assert fc.digest()[:12] in path.name
    assert arrays.eeg.shape[1:] == fc.eeg_shape and arrays.ecg.shape[1:] == (1, fc.hrv_length)
    assert arrays.eeg.dtype == np.float32 and np.isfinite(arrays.eeg).all()
    assert arrays.synthetic
    # Same numbers as calling the kernel feature path directly on one trial.
    trials, _ = load_amigos(AmigosConfig(str(synth_root), min_duration_s=15.0))
    t = trials[0]
    ends = window_ends(t.eeg.shape[1], 128.0, 10.0, 3.0, 5.0)
    de, hrv = trial_features(t.eeg, t.ecg, fc, ends)
    np.testing.assert_array_equal(arrays.eeg[: len(ends)], de)
    np.testing.assert_array_equal(arrays.ecg[: len(ends), 0], hrv)
    # Beats were found: a 10-s window at 60-90 bpm holds about 10-15 RR intervals.
    n_rr = (arrays.ecg[:, 0] > 0).sum(axis=1)
    assert np.median(n_rr) >= 8
    # Reuse, and a different segmentation gets a different cache file.
    again, path2, cached2 = prepare_features(ds, fc, progress=False)
    assert cached2 and path2 == path
    np.testing.assert_array_equal(again.eeg, arrays.eeg)
    other = DatasetConfig(root=str(synth_root), cache_dir=str(tmp_path / "c"), segment_hop_s=5.0)
    assert cache_path(other, fc) != path
    # Parallel extraction gives the same arrays.
    par = DatasetConfig(
        root=str(synth_root), cache_dir=str(tmp_path / "p"), segment_hop_s=3.0, workers=2
    )
    arrays_par, _, _ = prepare_features(par, fc, progress=False)
    np.testing.assert_array_equal(arrays_par.eeg, arrays.eeg)
    np.testing.assert_array_equal(arrays_par.ecg, arrays.ecg)
    # The export stage's entry point.
    eeg, ecg, labels = load_feature_arrays(tmp_path / "c")
    assert eeg.shape[0] == ecg.shape[0] == labels.shape[0] == len(arrays)
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1}
    assert read_cache(path).subject_names == ["P01", "P02", "P03"]


def test_unreadable_mat_file_is_a_clear_error(tmp_path):
    (tmp_path / "Data_Preprocessed_P09.mat").write_bytes(b"not a MATLAB file at all")
    with pytest.raises(ValueError, match=r"Data_Preprocessed_P09\.mat"):
        load_amigos(AmigosConfig(str(tmp_path)))
