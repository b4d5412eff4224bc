"""Folds, metrics, the training loop (determinism, resume, learning), reports and plots.

Everything here runs on small tensors with a planted signal; the feature path is tested
in test_training_data.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_emotion.normalization import Normalization
from edge_emotion.training.cv import (
    CVConfig,
    make_folds,
    normalized_tensors,
    run_cv,
    segment_folds,
    subject_folds,
)
from edge_emotion.training.loop import TrainConfig, binary_loss, fit, predict
from edge_emotion.training.metrics import (
    binary_metrics,
    multiclass_metrics,
    summarize_folds,
)
from edge_emotion.training.models.maan import build_model, model_config
from edge_emotion.training.plots import plot_confusions, plot_curves, plot_tsne
from edge_emotion.training.reports import write_cv_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {"eeg_width": 4, "ecg_width": 4, "hidden": 8, "depth": 1, "dropout": 0.1}


def planted(n: int, seed: int = 0, n_subjects: int = 6):
    """EEG/ECG-shaped tensors whose labels depend on an EEG band and the HRV series."""
    rng = np.random.default_rng(seed)
    eeg = rng.normal(size=(n, 4, 14, 10)).astype(np.float32)
    ecg = rng.normal(size=(n, 1, 32)).astype(np.float32)
    y = rng.integers(0, 2, size=(n, 2))
    eeg[:, 1, :4] += 1.5 * (2 * y[:, :1, None] - 1)  # "frontal alpha" carries target 0
    ecg[:, 0, :] += 1.5 * (2 * y[:, 1:2] - 1)  # "HRV" carries target 1
    subjects = np.repeat(np.arange(n_subjects), int(np.ceil(n / n_subjects)))[:n]
    return eeg, ecg, y.astype(np.int64), subjects


@settings(max_examples=25, deadline=None)
@given(n=st.integers(10, 300), k=st.integers(2, 10), seed=st.integers(0, 10))
def test_segment_folds_partition_segments(n, k, seed):
    folds = segment_folds(n, k, seed)
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(n))  # every segment tested exactly once
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0
        assert tr.size + te.size == n


@settings(max_examples=25, deadline=None)
@given(n_subj=st.integers(2, 40), k=st.integers(2, 10), seed=st.integers(0, 10))
def test_subject_folds_never_share_subjects(n_subj, k, seed):
    k = min(k, n_subj)
    subjects = np.random.default_rng(seed).integers(0, n_subj, 500)
    subjects[:n_subj] = np.arange(n_subj)
    folds = subject_folds(subjects, k, seed)
    seen = []
    for tr, te in folds:
        assert np.intersect1d(subjects[tr], subjects[te]).size == 0
        assert np.intersect1d(tr, te).size == 0
        assert tr.size + te.size == subjects.size
        seen.extend(np.unique(subjects[te]).tolist())
    assert sorted(seen) == list(range(n_subj))  # each subject tested exactly once


def test_fold_arguments_are_checked():
    with pytest.raises(ValueError, match="n_folds"):
        subject_folds(np.array([0, 0, 1]), 3)
    with pytest.raises(ValueError, match="protocol"):
        make_folds("trial", 2, np.arange(10))


def test_binary_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.where(rng.random(200) < 0.7, y, 1 - y)
    m = binary_metrics(y, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["sensitivity"] == pytest.approx(recall_score(y, p))
    assert m["specificity"] == pytest.approx(recall_score(1 - y, 1 - p))
    assert m["precision"] == pytest.approx(precision_score(y, p))
    assert m["f1"] == pytest.approx(f1_score(y, p))
    mc = multiclass_metrics(rng.integers(0, 5, 100), rng.integers(0, 5, 100), 5)
    assert np.asarray(mc["confusion"]).sum() == 100
    s = summarize_folds([{"a": {"accuracy": 0.5}}, {"a": {"accuracy": 0.7}}])
    assert s["a"]["accuracy"]["mean"] == pytest.approx(0.6)
    assert s["a"]["accuracy"]["std"] == pytest.approx(0.1)


def test_normalization_uses_training_statistics():
    eeg, ecg, _, _ = planted(64)
    norm = Normalization.fit(eeg * 3 + 2, ecg)
    e, _ = normalized_tensors(norm, {"eeg": eeg * 3 + 2, "ecg": ecg})
    assert norm.eeg_mean.shape == (4, 14)
    np.testing.assert_allclose(e.numpy().mean(axis=(0, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(e.numpy().std(axis=(0, 3)), 1, atol=1e-3)


def _fit(eeg, ecg, y, epochs, state_path=None, seed=0):
    torch.manual_seed(seed)
    model = build_model(model_config("maan", **TINY))
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=5e-3, seed=seed, device="cpu")
    tensors = (torch.from_numpy(eeg), torch.from_numpy(ecg), torch.from_numpy(y.astype(np.float32)))
    result = fit(model, tensors, binary_loss(), cfg, state_path=state_path)
    return model, result


def test_training_learns_planted_signal_and_is_deterministic():
    eeg, ecg, y, _ = planted(400)
    m1, r1 = _fit(eeg[:300], ecg[:300], y[:300], epochs=12)
    m2, _ = _fit(eeg[:300], ecg[:300], y[:300], epochs=12)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    probs = 1 / (1 + np.exp(-predict(m1, (eeg[300:], ecg[300:]), device="cpu")))
    acc = ((probs >= 0.5) == y[300:]).mean(axis=0)
    assert acc.min() > 0.8, acc
    assert r1["history"][-1]["train_loss"] < r1["history"][0]["train_loss"]
    assert r1["segments_per_second"] > 0


def test_resume_continues_exactly(tmp_path):
    eeg, ecg, y, _ = planted(96)
    straight, _ = _fit(eeg, ecg, y, epochs=3)
    state = tmp_path / "resume.pt"
    # An "interrupted" run: the same run stopped after epoch 1 leaves the state after epoch 1.
    _fit_until(eeg, ecg, y, total_epochs=3, stop_after=1, state_path=state)
    saved = torch.load(state, weights_only=True)
    assert saved["epoch"] == 1
    resumed, result = _fit(eeg, ecg, y, epochs=3, state_path=state)
    assert result["resumed_from_epoch"] == 1
    with pytest.raises(ValueError, match="different TrainConfig"):
        _fit(eeg, ecg, y, epochs=4, state_path=state)
    assert len(result["history"]) == 3
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class _Interrupt(Exception):
    pass


def _fit_until(eeg, ecg, y, total_epochs, stop_after, state_path):
    calls = {"n": 0}

    def evaluate(_model):
        calls["n"] += 1
        if calls["n"] > stop_after:
            raise _Interrupt
        return {}

    torch.manual_seed(0)
    model = build_model(model_config("maan", **TINY))
    cfg = TrainConfig(epochs=total_epochs, batch_size=32, lr=5e-3, seed=0, device="cpu")
    tensors = (torch.from_numpy(eeg), torch.from_numpy(ecg), torch.from_numpy(y.astype(np.float32)))
    with pytest.raises(_Interrupt):
        fit(model, tensors, binary_loss(), cfg, evaluate=evaluate, state_path=state_path)


def test_run_cv_reports_and_plots(tmp_path):
    eeg, ecg, y, subjects = planted(120)
    cvc = CVConfig(protocol="subject", n_folds=3, models=("base", "maan"))
    tcfg = TrainConfig(epochs=6, batch_size=16, lr=5e-3, device="cpu")
    inputs = {"eeg": eeg, "ecg": ecg}
    results = run_cv(inputs, y, subjects, cvc, tcfg, tmp_path, model_overrides=TINY, progress=False)
    assert set(results["models"]) == {"base", "maan"}
    for res in results["models"].values():
        assert len(res["folds"]) == 3
        acc = res["summary"]["arousal"]["accuracy"]
        assert len(acc["values"]) == 3
        assert acc["mean"] > 0.6  # planted signal is learnable across subjects
        assert np.asarray(res["summary"]["valence"]["confusion"]).sum() == 120
    paths = write_cv_report(results, tmp_path, {"synthetic": True, "dataset": "planted"})
    md = paths[0].read_text()
    assert "Proposed (MAAN)" in md and "Base model" in md and "Arousal PPR" in md
    assert "NOT emotion" in md
    payload = json.loads(paths[1].read_text())
    assert [r["model"] for r in payload["table1"]] == ["base", "maan"]
    # A second call finds every fold on disk and trains nothing.
    again = run_cv(inputs, y, subjects, cvc, tcfg, tmp_path, model_overrides=TINY, progress=False)
    assert again["models"]["maan"]["summary"] == results["models"]["maan"]["summary"]
    with pytest.raises(ValueError, match="different model_overrides, train_config"):
        run_cv(inputs, y, subjects, cvc, TrainConfig(epochs=7, device="cpu"), tmp_path)
    emb = {}
    for name in ("base", "maan"):
        with np.load(tmp_path / f"embeddings-{name}.npz") as z:
            emb[name] = (z["embedding"], z["labels"])
    figs = [
        *plot_tsne(emb, tmp_path / "tsne.png"),
        *plot_curves(results["models"], tmp_path / "curves.png"),
        *plot_confusions(results["models"], tmp_path / "confusion.png"),
    ]
    assert [f.name for f in figs] == ["tsne.png", "curves.png", "confusion.png"]
    for f in figs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
