"""Users' recordings as a dataset, end to end through the training CLI: a small generated
set of BDF, BrainFlow, XDF and EDF files at different rates through ``prepare``,
``train`` (EEG+ECG, EEG only, ECG only, session baseline), ``cv`` with the
logistic-regression baseline, and ``evaluate``; bad input refused or counted."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from recording_files import write_brainflow, write_edf
from xdf_writer import XdfStream, write_xdf

from edge_emotion.kernels.config import OPENBCI_CYTON_CHANNELS
from edge_emotion.training.cli import main
from edge_emotion.training.families import EEG_ECG

SECONDS = 36.0
TINY = ["--eeg-width", "4", "--ecg-width", "4", "--hidden", "8", "--depth", "1"]
FAST = ["--epochs", "2", "--batch-size", "16", "--threads", "1", "--no-progress", "--workers", "1"]
HEADER = "recording,subject,start_s,end_s,arousal"


def _eeg(n: int, fs: float, task: bool, seed: int) -> np.ndarray:
    """Eight channels of noise with a 10-Hz alpha rhythm that the task weakens (µV); the
    noise has the same power per Hz at every file rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    alpha = (4.0 if task else 12.0) * np.sin(2 * np.pi * 10.0 * t)
    noise = rng.standard_normal((len(OPENBCI_CYTON_CHANNELS), n)) * 5.0 * np.sqrt(fs / 256.0)
    return noise + alpha


def _ecg(n: int, fs: float, task: bool, seed: int = 0) -> np.ndarray:
    """A spiky trace at 60 bpm at rest, 95 bpm during the task (mV), with 4 % beat-to-beat
    variability (so HRV is physiology, not the sampling grid of each file's rate)."""
    mean_rr = 60.0 / (95.0 if task else 60.0)
    count = int(n / fs / mean_rr) + 2
    rr = mean_rr * (1 + 0.04 * np.random.default_rng(seed).standard_normal(count))
    beats = np.cumsum(rr)
    t = np.arange(n) / fs
    nearest = beats[np.clip(np.searchsorted(beats, t), 0, beats.size - 1)]
    previous = beats[np.clip(np.searchsorted(beats, t) - 1, 0, beats.size - 1)]
    d = np.minimum(np.abs(t - nearest), np.abs(t - previous))
    return np.exp(-((d / 0.012) ** 2))


def _write(root, subject: str, fmt: str, task: bool, seed: int) -> str:
    name = f"{subject}/{'task' if task else 'rest'}"
    folder = root / subject
    folder.mkdir(parents=True, exist_ok=True)
    if fmt in ("bdf", "edf"):
        fs = 256.0 if fmt == "bdf" else 500.0
        n = int(SECONDS * fs)
        eeg = _eeg(n, fs, task, seed)
        signals = [(f"EEG {c}", fs, eeg[i], "uV") for i, c in enumerate(OPENBCI_CYTON_CHANNELS)]
        signals.append(("ECG ECG", fs, _ecg(n, fs, task, seed), "mV"))
        return write_edf(root / f"{name}.{fmt}", signals, bdf=fmt == "bdf").relative_to(root)
    if fmt == "brainflow":
        fs = 125.0  # a Cyton+Daisy: 8 EEG, the ECG on the ninth input
        n = int(SECONDS * fs)
        exg = np.vstack([_eeg(n, fs, task, seed), _ecg(n, fs, task, seed) * 1000])
        channels = [*OPENBCI_CYTON_CHANNELS, {"name": "ECG", "role": "ecg", "unit": "uV"}]
        sidecar = {"master_board": "CYTON_DAISY_BOARD", "sampling_rate": fs, "channels": channels}
        path = root / f"{name}.csv"
        write_brainflow(path, exg, master_board="CYTON_DAISY_BOARD", sidecar=sidecar)
        return path.relative_to(root)
    fs, fs_ecg, t0 = 250.0, 130.0, 1000.0  # XDF: two streams at their own rates
    n, n_ecg = int(SECONDS * fs), int(SECONDS * fs_ecg)
    eeg = XdfStream(
        "amp",
        "EEG",
        fs,
        _eeg(n, fs, task, seed).T * 1e-6,
        t0 + np.arange(n) / fs,
        "double64",
        list(OPENBCI_CYTON_CHANNELS),
        ["volts"] * 8,
    )
    ecg = XdfStream(
        "chest",
        "ECG",
        fs_ecg,
        _ecg(n_ecg, fs_ecg, task, seed)[:, None],
        t0 + np.arange(n_ecg) / fs_ecg,
        "double64",
        ["ECG1"],
        ["mV"],
    )
    return write_xdf(root / f"{name}.xdf", [eeg, ecg]).relative_to(root)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Four subjects, rest (0) and task (1) each, in four formats; a labels table."""
    root = tmp_path_factory.mktemp("recordings")
    rows = []
    for i, fmt in enumerate(("bdf", "brainflow", "xdf", "edf")):
        subject = f"s{i + 1}"
        for task in (False, True):
            path = _write(root, subject, fmt, task, seed=10 * i + task)
            rows.append(f"{path.as_posix()},{subject},,,{int(task)}")
    labels = root / "labels.csv"
    labels.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return root, labels


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _data(dataset, cache) -> list[str]:
    root, labels = dataset
    return ["--data", str(root), "--labels", str(labels), "--cache-dir", str(cache)]


def test_prepare_reads_every_format_at_the_models_rate(dataset, tmp_path, capsys):
    fc = tmp_path / "fc.json"
    fc.write_text(json.dumps({"eeg_fs": 125, "ecg_fs": 125, "hop_s": 0.2}))
    argv = ["prepare", *_data(dataset, tmp_path / "c"), "--feature-config", fc]
    rc, out, err = _run(capsys, *argv, "--no-progress", "--workers", "2")
    assert rc == 0, err
    assert "wrote" in out and "8 trials/spans, 4 subjects, inputs eeg+ecg" in out
    # EEG channels come from the data (the first recording's, in its order).
    assert ", ".join(OPENBCI_CYTON_CHANNELS) in out
    cache = next((tmp_path / "c").glob("recordings-*.json"))
    meta = json.loads(cache.read_text())
    assert meta["targets"] == ["arousal"] and meta["binary_targets"] == ["arousal"]
    assert meta["feature_config"]["eeg_channels"] == list(OPENBCI_CYTON_CHANNELS)
    rates = meta["load_summary"]["source_rates"]
    assert set(rates["eeg"]) == {"256", "125", "250", "500"} and "130" in rates["ecg"]
    # 36-s spans, the first window ends at 10 s + the R-peak look-ahead, one every 2 s.
    first = meta["segmentation"]["first_window_end_s"]
    per_span = int((SECONDS - first) // 2.0) + 1
    assert meta["n_segments"] == 8 * per_span
    rc, out, _ = _run(capsys, *argv, "--no-progress")
    assert rc == 0 and "reused" in out


def test_train_and_evaluate_eeg_ecg(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc, out, err = _run(
        capsys, "train", *_data(dataset, tmp_path / "c"), "--out", run, "--holdout", "0.25",
        *TINY, *FAST,
    )  # fmt: skip
    assert rc == 0, err
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["targets"] == ["arousal"] and ckpt["model_config"]["n_targets"] == 1
    assert ckpt["feature_config"]["eeg_channels"] == list(OPENBCI_CYTON_CHANNELS)
    assert "modalities" not in ckpt["feature_config"]  # both: the shipped JSON form
    assert ckpt["dataset"]["name"] == "recordings" and ckpt["dataset"]["targets"] == ["arousal"]
    assert "held-out subjects" in out and "balanced" in out
    rc, out, err = _run(
        capsys, "evaluate", "--checkpoint", run / "model.pt", *_data(dataset, tmp_path / "c"),
        "--out", tmp_path / "eval", "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    m = results["metrics"]["arousal"]
    for key in ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1"):
        assert 0.0 <= m[key] <= 1.0
    assert np.asarray(m["confusion"]).sum() == results["windows"]
    assert set(results["per_subject"]) == {"s1", "s2", "s3", "s4"}
    assert (tmp_path / "eval" / "confusion.png").stat().st_size > 0
    assert out.count("arousal: accuracy") == 1 and "windows, 4 subjects" in out


@pytest.mark.parametrize(
    ("modalities", "channels", "inputs"),
    [("eeg", "O1,O2,Fp1", ("eeg",)), ("ecg", None, ("ecg",))],
)
def test_one_modality_models(dataset, tmp_path, capsys, modalities, channels, inputs):
    run = tmp_path / "run"
    extra = ["--eeg-channels", channels] if channels else []
    rc, _, err = _run(
        capsys, "train", *_data(dataset, tmp_path / "c"), "--modalities", modalities, *extra,
        "--out", run, "--holdout", "0", *FAST, "--eeg-width", "4", "--ecg-width", "4",
        "--hidden", "8",
    )  # fmt: skip
    assert rc == 0, err
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["feature_config"]["modalities"] == [modalities]
    assert ckpt["model_config"]["name"] == "base"  # MAAN needs two modalities
    assert EEG_ECG.inputs_of(ckpt["model_config"]) == inputs
    assert set(ckpt["normalization"]) == {f"{modalities}_mean", f"{modalities}_std"}
    if channels:
        assert ckpt["feature_config"]["eeg_channels"] == channels.split(",")
        # three electrodes: the U-Net depth that fits is 1 (the default 2 would not)
        assert ckpt["model_config"]["depth"] == 1
    else:
        assert ckpt["feature_config"]["eeg_channels"] == []
    rc, out, err = _run(
        capsys, "evaluate", "--checkpoint", run / "model.pt", *_data(dataset, tmp_path / "c"),
        "--out", tmp_path / "eval", "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert f"inputs {modalities}" in out


def test_session_baseline_is_recorded_and_applied(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc, out, err = _run(
        capsys, "train", *_data(dataset, tmp_path / "c"), "--normalization", "session_baseline",
        "--baseline-s", "10", "--out", run, "--holdout", "0", *TINY, *FAST,
    )  # fmt: skip
    assert rc == 0, err
    assert "session baseline (subject, 10 s): 20 windows used" in out  # 5 windows x 4 subjects
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["normalization"]["mode"] == "session_baseline"
    assert ckpt["normalization"]["baseline_s"] == 10.0
    assert ckpt["dataset"]["session_baseline"] == {"baseline_s": 10.0, "scope": "subject"}
    rc, out, err = _run(
        capsys, "evaluate", "--checkpoint", run / "model.pt", *_data(dataset, tmp_path / "c"),
        "--out", tmp_path / "eval", "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert "normalisation session_baseline" in out and "20 windows used" in out


def test_cv_with_the_feature_baseline(dataset, tmp_path, capsys):
    rc, out, err = _run(
        capsys, "cv", *_data(dataset, tmp_path / "c"), "--protocol", "subject", "--folds", "2",
        "--models", "base,logreg", "--out", tmp_path / "cv", *TINY, *FAST,
    )  # fmt: skip
    assert rc == 0, err
    assert "Logistic regression (features)" in out and "Arousal BAcc" in out
    res = json.loads((tmp_path / "cv" / "results.json").read_text())
    logreg = res["models"]["logreg"]["summary"]["arousal"]
    # Heart rate and alpha power separate rest from task here: the baseline finds it.
    assert logreg["balanced_accuracy"]["mean"] > 0.9
    assert res["meta"]["data"]["targets"] == ["arousal"]
    size = res["meta"]["model_sizes"]["logreg"]
    assert size["parameters"] > 0 and size["flops_per_segment"] > 0


def test_bad_input_is_refused_or_counted(dataset, tmp_path, capsys):
    root, labels = dataset
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\ns9/none.edf,s9,,,1\n")
    rc, _, err = _run(capsys, "prepare", "--data", root, "--labels", bad, "--cache-dir", tmp_path)
    assert rc == 2 and "not found under" in err and "s9/none.edf" in err
    rows = labels.read_text().splitlines()
    bad.write_text(HEADER + "\n" + rows[1].replace(",,,", ",,50,") + "\n")  # ends at 50 s
    rc, _, err = _run(capsys, "prepare", "--data", root, "--labels", bad, "--cache-dir", tmp_path)
    assert rc == 2 and "outside" in err
    rc, _, err = _run(
        capsys, "prepare", *_data(dataset, tmp_path / "c"), "--eeg-channels", "Cz,Pz",
        "--no-progress",
    )  # fmt: skip
    assert rc == 2 and "no usable labelled span" in err and "missing_channel: 8" in err


def test_nan_stretches_and_unusable_ecg_are_counted(tmp_path, capsys):
    # XDF holds NaN samples (a lost stretch), which EDF cannot.
    root = tmp_path / "d"
    root.mkdir()
    fs = 256.0
    n = int(SECONDS * fs)
    rows = []
    for name, task in (("clean", False), ("nan", True), ("noise", True)):
        eeg = _eeg(n, fs, task, seed=1)
        ecg = _ecg(n, fs, task) * 1000.0
        if name == "nan":
            eeg[:, int(20 * fs) : int(24 * fs)] = np.nan  # 4 s lost
        if name == "noise":  # no heart in it: beats from noise, most of them "corrected"
            ecg = np.random.default_rng(0).standard_normal(n) * 300.0
        stream = XdfStream(
            "amp",
            "EEG",
            fs,
            np.vstack([eeg, ecg]).T,
            100.0 + np.arange(n) / fs,
            "double64",
            [*OPENBCI_CYTON_CHANNELS, "ECG"],
            ["microvolts"] * 9,
        )
        write_xdf(root / f"{name}.xdf", [stream])
        rows.append(f"{name}.xdf,s1,,,{int(task)}")
    labels = root / "labels.csv"
    labels.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    rc, out, err = _run(
        capsys, "prepare", "--data", root, "--labels", labels, "--cache-dir", tmp_path / "c",
        "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    meta = json.loads(next((tmp_path / "c").glob("*.json")).read_text())
    skipped = meta["load_summary"]["windows_skipped"]
    lost = [s for s in skipped if s[0] == "nan.xdf"]
    assert [s[2] for s in lost] == ["samples_missing"] and lost[0][3] >= 4
    noise = [s for s in skipped if s[0] == "noise.xdf"]
    per_span = int((SECONDS - meta["segmentation"]["first_window_end_s"]) // 2.0) + 1
    assert sum(s[3] for s in noise) == per_span  # every window of the noise ECG
    assert not [s for s in skipped if s[0] == "clean.xdf"]
    assert "windows the device would abstain on" in out
