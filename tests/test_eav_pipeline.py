"""End to end on synthetic EAV files: mat v7.3/wav/mp4 -> loader -> model -> train -> metrics
-> report -> checkpoint (ONNX export: tests/test_export_eav.py). Synthetic: pipeline checks only."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_emotion.training.checkpoint import load_checkpoint, save_checkpoint
from edge_emotion.training.cli import main
from edge_emotion.training.datasets.eav_layout import EMOTIONS
from edge_emotion.training.datasets.eav_loader import EAVData, load_eav
from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig, write_synthetic_eav
from edge_emotion.training.eav_experiment import (
    EAVExperimentConfig,
    make_splits,
    model_inputs,
    per_subject_splits,
    run_experiment,
    train_and_evaluate,
    variant_config,
)
from edge_emotion.training.families import EAV_FUSION, load_model
from edge_emotion.training.loop import TrainConfig
from edge_emotion.training.models.eav_fusion import EAVModelConfig, model_config_for_data
from edge_emotion.training.models.transformer import AudioConfig, EEGConfig, VideoConfig

# every modality informative, so a few CPU steps suffice to see learning
SYN = SyntheticEAVConfig(
    n_subjects=3, n_trials=10, trial_s=10.0, mat_version="v7.3", informative_fraction=1.0, seed=1
)
SMALL = EAVModelConfig(
    fusion_dim=32,
    fusion_heads=4,
    tokens_per_modality=3,
    dropout=0.0,
    modality_dropout=0.1,
    eeg=EEGConfig(filters=8, dim=32, depth=1, heads=4),
    audio=AudioConfig(patch=8, stride=8, dim=32, depth=1, heads=4),
    video=VideoConfig(patch=8, dim=32, depth=1, heads=4),
)
TRAIN = TrainConfig(epochs=4, batch_size=8, lr=3e-3, device="cpu", seed=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = write_synthetic_eav(tmp_path_factory.mktemp("eav_pipeline"), SYN)
    # 50 Hz EEG halves the CPU time; the synthetic rhythms are all below 25 Hz
    config = SYN.loader_config(eeg_target_fs=50.0, eeg_band=(0.5, 24.0))
    return root, config, load_eav(root, config=config)


def _index_only_data(n_subjects: int, trials_per_class: int) -> EAVData:
    """Labels/trials/subjects only (the splits never look at the signals)."""
    rows = [
        (s, c, t, w)
        for s in range(1, n_subjects + 1)
        for t in range(5 * trials_per_class)
        for c in [t % 5]
        for w in range(4)
    ]
    s, c, t, w = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    n = s.size
    z = np.zeros((n, 1), np.float32)
    return EAVData(z, z, z.astype(np.uint8), np.ones((n, 3), bool), c, s, t, w)


def test_splits_keep_trials_and_subjects_apart(synthetic):
    data = _index_only_data(n_subjects=2, trials_per_class=4)
    for _, tr, te in per_subject_splits(data, 0.5):
        assert tr.size == te.size == data.label.size // 4  # half the trials of each class
        assert np.unique(data.subject[np.concatenate([tr, te])]).size == 1
        train_trials = set(data.trial[tr].tolist())
        assert train_trials.isdisjoint(data.trial[te].tolist())
        assert set(data.label[tr].tolist()) == set(data.label[te].tolist()) == set(range(5))
        # the first trials (recording order) train, as in the paper's split
        assert data.trial[tr].max() < data.trial[te].min() + 5
    _, _, data = synthetic
    folds = make_splits(data, EAVExperimentConfig(protocol="subject", n_folds=3))
    assert len(folds) == 3
    for _, tr, te in folds:
        assert set(data.subject[tr].tolist()).isdisjoint(data.subject[te].tolist())
    seen = np.concatenate([te for _, _, te in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(data)))


def test_train_fusion_metrics_and_checkpoint(synthetic, tmp_path):
    _, config, data = synthetic
    cfg = variant_config("fusion", model_config_for_data(config.shapes, SMALL))
    tr = np.flatnonzero(data.subject != 3)
    te = np.flatnonzero(data.subject == 3)
    r = train_and_evaluate(cfg, data, tr, te, TRAIN, missing_modality=True)
    hist = r["history"]
    assert hist[-1]["train_loss"] < 0.6 * hist[0]["train_loss"]  # it learns
    m = r["metrics"]
    assert np.sum(m["confusion"]) == te.size
    assert m["accuracy"] >= 0.4  # held-out participant, chance is 0.2
    assert set(r["missing_modality_accuracy"]) == {"without_eeg", "without_audio", "without_video"}

    model = r["model"].eval()
    path = tmp_path / "fusion.pt"
    ckpt = EAV_FUSION.make_checkpoint(
        model,
        cfg,
        metrics=m,
        dataset={"name": "synthetic", "synthetic": True},
        data_config=config.to_dict(),
        classes=list(EMOTIONS),
    )
    save_checkpoint(ckpt, path)
    ckpt = load_checkpoint(path)  # weights_only=True inside
    loaded = load_model(ckpt)
    x = model_inputs(data, te[:3])
    x[2] = x[2].float() / 255.0
    torch.testing.assert_close(loaded(*x), model(*x))
    assert ckpt["dataset"]["synthetic"] is True


def test_run_experiment_writes_report_figures_and_checkpoints(synthetic, tmp_path):
    _, config, data = synthetic
    exp = EAVExperimentConfig(protocol="subject", variants=("audio", "fusion"), n_folds=2)
    res = run_experiment(
        data,
        config,
        exp,
        replace(TRAIN, epochs=1),
        tmp_path,
        base_model=SMALL,
        dataset_info={
            "name": "synthetic-eav",
            "synthetic": True,
            "subjects": 3,
            "windows": len(data),
        },
        progress=False,
    )
    report = (tmp_path / "report.md").read_text()
    assert "SYNTHETIC" in report and "| fusion |" in report and "| audio |" in report
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["variants"]["fusion"]["splits"]) == 2
    assert "without_audio" in saved["variants"]["fusion"]["missing_modality_accuracy"]
    assert "Acc w/o video" in report and "Macro F1" in report
    acc = saved["variants"]["fusion"]["summary"]["accuracy"]["mean"]
    assert f"| fusion | {100 * acc:.2f} ± " in report  # percent, like the MAAN Table 1
    assert {Path(p).name for p in res["figures"]} == {"confusion.png", "curves.png", "tsne.png"}
    for p in res["figures"]:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "audio.pt").is_file() and (tmp_path / "fusion.pt").is_file()


def test_run_experiment_writes_nothing_on_other_ranks(synthetic, tmp_path, monkeypatch):
    """Under torchrun only rank 0 writes: a non-zero rank returns the results, no files."""
    import edge_emotion.training.eav_experiment as eav

    _, config, data = synthetic
    monkeypatch.setattr(eav, "is_main_process", lambda: False)
    out = tmp_path / "rank1"
    exp = EAVExperimentConfig(protocol="subject", variants=("audio",), n_folds=2)
    res = run_experiment(
        data, config, exp, replace(TRAIN, epochs=1), out, base_model=SMALL, progress=False
    )
    assert not out.exists()
    assert res["figures"] == [] and len(res["variants"]["audio"]["splits"]) == 2


def test_command_line_run(synthetic, tmp_path, capsys):
    root, _, _ = synthetic
    out = tmp_path / "run"
    args = ["eav", "run", "--data", str(root), "--synthetic", "--out", str(out), "--protocol"]
    args += ["subject", "--folds", "2", "--variants", "fusion", "--epochs", "1", "--threads", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "SYNTHETIC" in text and f"wrote {out / 'fusion.pt'}" in text
    assert main(["eav", "run", "--data", str(tmp_path), "--out", str(out), "--synthetic"]) == 2
    assert "error: no subject<N>/EEG" in capsys.readouterr().err
