"""EAV loader: label rows, MATLAB v5/v7.3, file names, windows, clear errors."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from edge_emotion.training.datasets.eav import (
    EMOTIONS,
    EAVConfig,
    default_label_rows,
    load_eav,
    load_eav_subject,
    parse_trial_file_name,
    read_mat_variable,
    trial_labels,
)
from edge_emotion.training.datasets.eav_synthetic import (
    SyntheticEAVConfig,
    write_mat,
    write_synthetic_eav,
)

SYN = SyntheticEAVConfig(n_subjects=1, n_trials=10, trial_s=10.0, seed=3)


@pytest.fixture(scope="module")
def eav_root(tmp_path_factory):
    return write_synthetic_eav(tmp_path_factory.mktemp("eav"), SYN)


def _one_hot(emotions: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    label = np.zeros((10, emotions.size))
    label[2 * emotions + tasks, np.arange(emotions.size)] = 1.0
    return label


def test_trial_labels_use_the_five_rows_of_the_task():
    rng = np.random.default_rng(0)
    emotions = rng.integers(0, 5, size=40)
    tasks = np.arange(40) % 2
    label = _one_hot(emotions, tasks)
    for t, name in enumerate(("listening", "speaking")):
        got = trial_labels(label, name)
        np.testing.assert_array_equal(got[tasks == t], emotions[tasks == t])
        assert np.all(got[tasks != t] == -1)
    # The reference code's bug: argmax over all 10 rows yields 2*emotion+task, which is not
    # the class index. These data tell the two apart, so a loader doing that fails above.
    naive = np.argmax(label, axis=0)
    assert not np.array_equal(naive[tasks == 1], emotions[tasks == 1])
    assert default_label_rows("speaking") == (1, 3, 5, 7, 9)


def test_trial_labels_rejects_bad_shapes():
    with pytest.raises(ValueError, match="label must have shape"):
        trial_labels(np.zeros((5, 10)), "speaking")
    with pytest.raises(ValueError, match="task must be one of"):
        trial_labels(np.zeros((10, 10)), "talking")


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_mat_round_trip_keeps_matlab_axis_order(tmp_path, version):
    x = np.random.default_rng(1).standard_normal((7, 30, 3)).astype(np.float32)
    p = tmp_path / f"x_{version}.mat"
    write_mat(p, "seg1", x, version)
    head = p.read_bytes()[:20]
    assert head.startswith(b"MATLAB 7.3" if version == "v7.3" else b"MATLAB 5.0")
    np.testing.assert_array_equal(read_mat_variable(p, ["seg1"]), x)
    with pytest.raises(ValueError, match=r"none of the variables \['label'\]"):
        read_mat_variable(p, ["label"])


def test_file_name_parsing():
    assert parse_trial_file_name("001_Trial_02_Speaking_Neutral_aud.wav") == (1, "speaking", 0)
    assert parse_trial_file_name("042_Trial_199_Listening_Calmness.mp4") == (198, "listening", 4)
    with pytest.raises(ValueError, match="no 'Trial_<number>'"):
        parse_trial_file_name("001_Speaking_Neutral.wav")
    with pytest.raises(ValueError, match="one emotion field"):
        parse_trial_file_name("001_Trial_03_Speaking_Joy.wav")


def test_loader_windows_shapes_masks_and_labels(eav_root):
    cfg = SYN.loader_config()
    d = load_eav(eav_root, config=cfg)
    n = 5 * cfg.n_windows  # 5 speaking trials
    assert len(d) == n
    assert d.eeg.shape == (n, 30, 500) and d.eeg.dtype == np.float32
    assert d.audio.shape == (n, *cfg.shapes["audio"])
    assert d.video.shape == (n, 2, 3, 32, 32) and d.video.dtype == np.uint8
    assert d.mask.all()
    np.testing.assert_allclose(d.eeg.std(axis=-1), 1.0, atol=1e-3)
    # labels agree with the emotion written in each trial's file name
    names = sorted((eav_root / "subject01" / "Audio").iterdir())
    truth = {parse_trial_file_name(p.name)[0]: parse_trial_file_name(p.name)[2] for p in names}
    for trial, label in zip(d.trial, d.label, strict=True):
        assert truth[int(trial)] == label
    assert sorted(np.bincount(d.label, minlength=5)) == [2] * 5
    # frames are not blank: the class square is brighter than the background
    assert d.video.max() > 150


def test_listening_task_masks_audio(eav_root):
    cfg = replace(SYN.loader_config(), task="listening", modalities=("eeg", "audio"))
    d = load_eav_subject(eav_root, 1, cfg)
    assert d.mask[:, 0].all() and not d.mask[:, 1].any() and not d.mask[:, 2].any()
    assert d.summary["missing_audio"] == 5
    assert np.all(d.audio == 0)


def test_clear_errors_name_the_path(eav_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(eav_root, root)
    cfg = SYN.loader_config()
    sdir = root / "subject01"
    # file name disagrees with the EEG label
    wav = sorted((sdir / "Audio").iterdir())[0]
    _, _, emo = parse_trial_file_name(wav.name)
    other = EMOTIONS[(emo + 1) % 5].capitalize()
    bad = wav.with_name(wav.name.replace(EMOTIONS[emo].capitalize(), other))
    wav.rename(bad)
    with pytest.raises(ValueError, match=re.escape(bad.name)):
        load_eav_subject(root, 1, cfg)
    bad.rename(wav)
    # malformed MATLAB file
    eeg = sdir / "EEG" / "subject01_eeg.mat"
    eeg.write_bytes(b"this is not a mat file" * 10)
    with pytest.raises(ValueError, match=r"subject01_eeg\.mat"):
        load_eav_subject(root, 1, replace(cfg, modalities=("eeg",)))
    eeg.unlink()
    with pytest.raises(FileNotFoundError, match=r"subject01_eeg\.mat"):
        load_eav_subject(root, 1, replace(cfg, modalities=("eeg",)))
    with pytest.raises(FileNotFoundError, match="subject07"):
        load_eav_subject(root, 7, cfg)
    # too short for the configured trial length
    write_mat(eeg, "seg1", np.zeros((100, 30, 10), np.float32), "v5")
    with pytest.raises(ValueError, match="samples per trial"):
        load_eav_subject(root, 1, replace(cfg, modalities=("eeg",)))


def test_config_validation():
    with pytest.raises(ValueError, match="modalities"):
        EAVConfig(modalities=("eeg", "ecg"))
    with pytest.raises(ValueError, match="eeg_band"):
        EAVConfig(eeg_band=(1.0, 60.0))
    with pytest.raises(ValueError, match="label_rows"):
        EAVConfig(label_rows=(0, 1, 2))
    assert EAVConfig.from_dict(EAVConfig().to_dict()) == EAVConfig()
