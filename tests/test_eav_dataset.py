"""EAV loader: label rows, MATLAB v5/v7.3, file names, windows, clear errors."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

from edge_emotion.training.datasets.eav_layout import (
    EMOTIONS,
    default_label_rows,
    list_subjects,
    parse_trial_file_name,
    read_mat_variable,
    trial_labels,
)
from edge_emotion.training.datasets.eav_loader import load_eav, load_eav_subject
from edge_emotion.training.datasets.eav_preprocess import EAVConfig
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


def test_file_name_parsing_takes_the_trial_from_the_leading_number():
    # the release's names: NNN is the trial, TT repeats and must not be used
    assert parse_trial_file_name("002_Trial_02_Speaking_Neutral_Aud.wav") == (1, "speaking", 0)
    assert parse_trial_file_name("004_Trial_02_Speaking_Anger_Aud.wav") == (3, "speaking", 2)
    assert parse_trial_file_name("022_Trial_02_Speaking_Happiness.mp4") == (21, "speaking", 3)
    assert parse_trial_file_name("199_Trial_19_Listening_Calmness.mp4") == (198, "listening", 4)
    assert parse_trial_file_name("200_trial_20_speaking_sadness_aud.WAV") == (199, "speaking", 1)
    with pytest.raises(ValueError, match="NNN_Trial_TT_<Task>_<Emotion>"):
        parse_trial_file_name("001_Speaking_Neutral.wav")
    with pytest.raises(ValueError, match="emotion 'Joy'"):
        parse_trial_file_name("001_Trial_03_Speaking_Joy.wav")
    with pytest.raises(ValueError, match="task 'Talking'"):
        parse_trial_file_name("001_Trial_03_Talking_Anger.wav")
    with pytest.raises(ValueError, match="start at 001"):
        parse_trial_file_name("000_Trial_01_Speaking_Anger.mp4")


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
    names = sorted((eav_root / "subject1" / "Audio").iterdir())
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
    sdir = root / "subject1"
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
    eeg = sdir / "EEG" / "subject1_eeg.mat"
    eeg.write_bytes(b"this is not a mat file" * 10)
    with pytest.raises(ValueError, match=r"subject1_eeg\.mat"):
        load_eav_subject(root, 1, replace(cfg, modalities=("eeg",)))
    eeg.unlink()
    with pytest.raises(FileNotFoundError, match=r"subject1_eeg\.mat.*subject01_eeg\.mat"):
        load_eav_subject(root, 1, replace(cfg, modalities=("eeg",)))
    with pytest.raises(FileNotFoundError, match=r"subject7.*subject07"):
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


def _set_tt(folder, tt: str) -> None:
    """Give every media file the same ``Trial_TT`` field, as the release repeats it."""
    for p in folder.iterdir():
        nnn, _, _, rest = p.name.split("_", 3)
        p.rename(p.with_name(f"{nnn}_Trial_{tt}_{rest}"))


def test_writer_uses_the_release_naming(eav_root):
    sdir = eav_root / "subject1"
    assert (sdir / "EEG" / "subject1_eeg.mat").is_file()
    audio = sorted(p.name for p in (sdir / "Audio").iterdir())
    video = sorted(p.name for p in (sdir / "Video").iterdir())
    assert len(audio) == 5 and len(video) == 10
    assert all(re.fullmatch(r"\d{3}_Trial_\d{2}_Speaking_[A-Z][a-z]+_Aud\.wav", n) for n in audio)
    assert all(
        re.fullmatch(r"\d{3}_Trial_\d{2}_(Listening|Speaking)_[A-Z][a-z]+\.mp4", n) for n in video
    )
    # NNN runs over the trials; TT repeats (a loader keyed on TT finds duplicates)
    assert [int(n[:3]) for n in video] == list(range(1, 11))
    tts = [n.split("_")[2] for n in audio]
    assert len(set(tts)) < len(tts)


@pytest.mark.parametrize("folder", ["subject1", "subject01"])
def test_release_style_names_load_in_either_folder_spelling(eav_root, tmp_path, folder):
    # the failing case: 002_Trial_02_..., 004_Trial_02_..., 006_Trial_02_... under
    # subject1/ (release) or subject01/ (reference code's spelling)
    root = tmp_path / "eav"
    shutil.copytree(eav_root / "subject1", root / folder)
    for sub in ("Audio", "Video"):
        _set_tt(root / folder / sub, "02")
    if folder != "subject1":
        for p in (root / folder / "EEG").iterdir():
            p.rename(p.with_name(p.name.replace("subject1_", f"{folder}_")))
    assert {p.name[:12] for p in (root / folder / "Audio").iterdir()} >= {"002_Trial_02"}
    cfg = SYN.loader_config()
    reference = load_eav(eav_root, config=cfg)
    d = load_eav(root, config=cfg)
    assert d.summary["subjects"] == [1]
    np.testing.assert_array_equal(d.label, reference.label)
    np.testing.assert_array_equal(d.trial, reference.trial)
    np.testing.assert_array_equal(d.eeg, reference.eeg)
    np.testing.assert_array_equal(d.video, reference.video)


def test_both_spellings_of_one_participant_are_refused(eav_root, tmp_path):
    root = tmp_path / "eav"
    shutil.copytree(eav_root / "subject1", root / "subject1")
    shutil.copytree(eav_root / "subject1", root / "subject01")
    with pytest.raises(ValueError, match="two folders"):
        list_subjects(root)
    with pytest.raises(ValueError, match="ambiguous"):
        load_eav_subject(root, 1, SYN.loader_config())


def _swap(a, b) -> None:
    tmp = a.with_name("tmp_swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def test_file_that_disagrees_with_the_eeg_labels_is_named(eav_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(eav_root, root)
    cfg = SYN.loader_config()
    video = root / "subject1" / "Video"
    names = sorted(video.iterdir())
    # NNN of a listening file moved onto a speaking trial: the task disagrees with the label
    listen = next(p for p in names if "Listening" in p.name)
    speak = next(p for p in names if "Speaking" in p.name)
    moved = listen.with_name(speak.name[:3] + listen.name[3:])
    speak.unlink()
    listen.rename(moved)
    with pytest.raises(ValueError, match=re.escape(moved.name) + ".*labels it speaking"):
        load_eav_subject(root, 1, cfg)
    # a trial number past the EEG's trial axis
    shutil.rmtree(root)
    shutil.copytree(eav_root, root)
    last = sorted(video.iterdir())[-1]
    far = last.with_name("011" + last.name[3:])
    last.rename(far)
    with pytest.raises(ValueError, match=re.escape(far.name) + ".*has 10 trials"):
        load_eav_subject(root, 1, cfg)
    # two speaking files of different emotions exchange their NNN
    shutil.rmtree(root)
    shutil.copytree(eav_root, root)
    audio = sorted((root / "subject1" / "Audio").iterdir())
    a, b = audio[0], next(p for p in audio if p.name.split("_")[4] != audio[0].name.split("_")[4])
    a2, b2 = a.with_name(b.name[:3] + a.name[3:]), b.with_name(a.name[:3] + b.name[3:])
    a.rename(a2)
    b.rename(b2)
    with pytest.raises(ValueError, match="file name says trial"):
        load_eav_subject(root, 1, cfg)
    # the check can be switched off for a release that labels differently
    d = load_eav_subject(root, 1, replace(cfg, check_file_labels=False, modalities=("audio",)))
    assert d.mask[:, 1].all()


def test_video_is_cropped_to_a_square_not_squashed(tmp_path):
    from edge_emotion.training.datasets.eav_preprocess import crop_box, read_video_windows
    from edge_emotion.training.datasets.eav_synthetic import write_mp4

    # a 4:3 frame: grey sides, a centred square whose left half is black, right half white
    h, w = 48, 64
    img = np.full((h, w, 3), 128, np.uint8)
    img[:, 8:56] = 255
    img[:, 8:32] = 0
    write_mp4(tmp_path / "v.mp4", [img] * 12, fps=4)
    cfg = EAVConfig(
        trial_s=2.0, window_s=1.0, frames_per_window=2, image_size=16, eeg_band=(0.5, 40.0)
    )
    out = read_video_windows(tmp_path / "v.mp4", cfg)
    assert out.shape == (2, 2, 3, 16, 16)
    # centred square: left half dark, right half bright, no grey margin in the picture
    frame = out[0, 0, 0].astype(float)
    assert frame[:, :6].mean() < 40 and frame[:, 10:].mean() > 215
    assert crop_box(640, 480, (0.5, 0.5, 1.0)) == (80, 0, 560, 480)
    assert crop_box(640, 480, (0.95, 0.1, 0.5)) == (400, 0, 640, 240)  # kept inside
    with pytest.raises(ValueError, match="video_crop"):
        EAVConfig(video_crop=(0.5, 0.5, 0.0))
