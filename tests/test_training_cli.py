"""End to end through ``python -m edge_emotion.training``: synth -> prepare -> cv / train.

Tiny models on tiny synthetic data on the CPU; the checkpoint must satisfy the export
contract (weights_only loading, build_model, normalisation fields).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_emotion.training.checkpoint import EEG_ECG_CHECKPOINT
from edge_emotion.training.cli import main
from edge_emotion.training.families import load_model

TINY_ARGS = ["--eeg-width", "4", "--ecg-width", "4", "--hidden", "8", "--depth", "1"]
DATA = ["--no-progress", "--workers", "1", "--segment-hop", "3"]
FAST = [*DATA, "--threads", "1"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data, cache = root / "synth", root / "cache"
    assert (
        main(
            [
                "synth",
                "--out",
                str(data),
                "--subjects",
                "4",
                "--trials",
                "3",
                "--min-s",
                "16",
                "--max-s",
                "22",
                "--missing",
                "0",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    args = ["--data", str(data), "--cache-dir", str(cache)]
    assert main(["prepare", *args, *DATA]) == 0
    return root, args


def test_help_everywhere(capsys):
    for cmd in ([], ["synth"], ["prepare"], ["info"], ["train"], ["cv"], ["eav", "run"]):
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "synth" in out and "--protocol" in out and "--holdout" in out
    # eav run shares the training options (one parser group, its own defaults)
    assert "usage: python -m edge_emotion.training eav run" in out and "--weight-decay" in out


def test_eav_commands_are_under_the_one_parser():
    """``python -m edge_emotion.training eav ...`` holds the EAV family's commands."""
    run = [sys.executable, "-m", "edge_emotion.training"]
    proc = subprocess.run([*run, "eav", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: python -m edge_emotion.training eav" in proc.stdout
    for command in ("synth", "info", "run"):
        assert command in proc.stdout
    top = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0 and "eav" in top.stdout and "EAV layout" in top.stdout


def test_info_prints_parameters_and_flops(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "maan:" in out and "base:" in out and "MFLOPs" in out


def test_cv_writes_table_and_figures(prepared, capsys):
    root, args = prepared
    out = root / "cv"
    rc = main(
        [
            "cv",
            *args,
            *FAST,
            *TINY_ARGS,
            "--out",
            str(out),
            "--protocol",
            "subject",
            "--folds",
            "2",
            "--epochs",
            "2",
            "--batch-size",
            "16",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    for name in ("table1.md", "results.json", "tsne.png", "curves.png", "confusion.png"):
        assert (out / name).is_file()
        assert f"wrote {out / name}" in printed
    assert "SYNTHETIC" in printed and "Proposed (MAAN)" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["synthetic"] is True
    assert len(results["models"]["maan"]["folds"]) == 2


def test_train_writes_contract_checkpoint(prepared, capsys):
    root, args = prepared
    out = root / "train"
    cmd = ["train", *args, *FAST, *TINY_ARGS, "--out", str(out), "--epochs", "2"]
    assert main([*cmd, "--holdout", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'model.pt'}" in printed and "held-out subjects" in printed
    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["format"] == EEG_ECG_CHECKPOINT
    assert ckpt["targets"] == ["arousal", "valence"]
    assert ckpt["dataset"]["synthetic"] is True
    assert np.asarray(ckpt["normalization"]["eeg_mean"]).shape == (4, 14)
    assert ckpt["feature_config"]["window_s"] == 10.0
    model = load_model(ckpt)
    logits = model(torch.zeros(2, 4, 14, 10), torch.zeros(2, 1, 32))
    assert logits.shape == (2, 2)
    # Rerunning finds the finished resume state and does not train again.
    assert main([*cmd, "--holdout", "0.25"]) == 0
    again = torch.load(out / "model.pt", weights_only=True)
    for k, v in ckpt["model_state"].items():
        assert torch.equal(v, again["model_state"][k]), k


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    rc = main(["prepare", "--data", str(tmp_path / "absent"), "--no-progress"])
    assert rc == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes(prepared):
    """DDP with the gloo backend: two ranks share each epoch and rank 0 writes the report."""
    root, args = prepared
    out = root / "ddp"
    # A fresh cache folder: rank 0 writes the features while rank 1 waits at a barrier.
    args = [args[0], args[1], "--cache-dir", str(root / "cache_ddp")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "edge_emotion.training",
        "cv",
        *args,
        *FAST,
        *TINY_ARGS,
        "--out",
        str(out),
        "--folds",
        "2",
        "--epochs",
        "1",
        "--models",
        "maan",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(f"wrote {out / 'table1.md'}") == 1  # rank 0 only
    assert len(list((root / "cache_ddp").glob("*.npz"))) == 1
    fold = json.loads(Path(out / "folds" / "maan-fold0.json").read_text())
    # Each rank trained on its half of the epoch (DistributedSampler pads to equal shares).
    assert fold["world_size"] == 2
    assert fold["segments_seen_per_rank"] == -(-fold["n_train"] // 2)
    assert fold["history"][0]["train_loss"] > 0
