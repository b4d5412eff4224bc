"""Cross-validation protocols and the base-vs-MAAN comparison of the paper's Table 1.

Protocols:

- ``"segment"``: the paper's 10-fold cross-validation over segments (shuffled K-fold on
  all windows). Windows of one trial, which overlap when ``segment_hop_s < window_s``,
  land in both training and test folds, so this measures within-recording fit and is
  optimistic; it is kept to compare with the paper.
- ``"subject"``: subject-independent, leave-subjects-out: every participant's segments
  are in exactly one test fold and never in its training folds.

Normalisation statistics (per band x channel for EEG, scalar for ECG) are fitted on each
training fold only. Every finished fold is written to ``<out>/folds/*.json``; an
interrupted run resumes at the first unfinished fold, mid-fold from the last epoch.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_emotion.normalization import Normalization
from edge_emotion.training.families import EEG_ECG
from edge_emotion.training.loop import TrainConfig, binary_loss, fit, is_main_process, predict
from edge_emotion.training.metrics import multitarget_binary_metrics, summarize_folds


def segment_folds(n: int, n_folds: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold over ``n`` segments: ``[(train_idx, test_idx), ...]``."""
    if n_folds < 2 or n_folds > n:
        raise ValueError(f"n_folds must be in 2..{n} (number of segments), got {n_folds}")
    order = np.random.default_rng(seed).permutation(n)
    chunks = np.array_split(order, n_folds)
    return [
        (np.sort(np.concatenate(chunks[:k] + chunks[k + 1 :])), np.sort(chunks[k]))
        for k in range(n_folds)
    ]


def subject_folds(
    subjects: np.ndarray, n_folds: int = 10, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-subjects-out folds: the shuffled subjects are dealt into ``n_folds`` groups."""
    subjects = np.asarray(subjects)
    unique = np.unique(subjects)
    if n_folds < 2 or n_folds > unique.size:
        raise ValueError(
            f"n_folds must be in 2..{unique.size} (number of subjects) for the subject "
            f"protocol, got {n_folds}"
        )
    shuffled = np.random.default_rng(seed).permutation(unique)
    groups = np.array_split(shuffled, n_folds)
    folds = []
    for g in groups:
        test = np.isin(subjects, g)
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def make_folds(
    protocol: str, n_folds: int, subjects: np.ndarray, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    if protocol == "segment":
        return segment_folds(len(subjects), n_folds, seed)
    if protocol == "subject":
        return subject_folds(subjects, n_folds, seed)
    raise ValueError(f"protocol must be one of {EEG_ECG.protocols}, got {protocol!r}")


def normalized_tensors(
    norm: Normalization, eeg: np.ndarray, ecg: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """``norm.apply`` (the runtime engines' step) as float32 tensors for the model."""
    e, c = norm.apply(eeg, ecg)
    return torch.from_numpy(np.ascontiguousarray(e)), torch.from_numpy(np.ascontiguousarray(c))


def pos_weight(labels: np.ndarray) -> list[float]:
    """n_negative / n_positive per target, for a class-balanced BCE."""
    labels = np.asarray(labels)
    pos = labels.sum(axis=0).astype(np.float64)
    neg = labels.shape[0] - pos
    return [float(n / p) if p > 0 and n > 0 else 1.0 for n, p in zip(neg, pos, strict=True)]


@dataclass
class FoldData:
    eeg: np.ndarray
    ecg: np.ndarray
    labels: np.ndarray


def train_one(
    model_config: dict[str, Any],
    train: FoldData,
    train_config: TrainConfig,
    *,
    test: FoldData | None = None,
    targets: Sequence[str] = ("arousal", "valence"),
    state_path: Path | None = None,
    progress: bool = False,
    desc: str = "train",
) -> tuple[torch.nn.Module, Normalization, dict[str, Any]]:
    """Fit the normalisation, build, train; returns ``(model, normalization, fit result)``.

    When ``test`` is given its loss and accuracies are recorded per epoch (curves only).
    """
    norm = Normalization.fit(train.eeg, train.ecg)
    x_eeg, x_ecg = normalized_tensors(norm, train.eeg, train.ecg)
    y = torch.from_numpy(np.asarray(train.labels, np.float32))
    torch.manual_seed(train_config.seed)
    model = EEG_ECG.build(model_config)
    loss_fn = binary_loss(pos_weight(train.labels))
    evaluate: Callable | None = None
    if test is not None:
        t_eeg, t_ecg = normalized_tensors(norm, test.eeg, test.ecg)
        t_y = torch.from_numpy(np.asarray(test.labels, np.float32))

        def evaluate(m: torch.nn.Module) -> dict[str, float]:
            logits = torch.from_numpy(
                predict(m, (t_eeg, t_ecg), device=train_config.device, amp=train_config.amp)
            )
            out = {"test_loss": float(loss_fn(logits, t_y))}
            acc = ((logits > 0).float() == t_y).float().mean(dim=0)
            for i, t in enumerate(targets):
                out[f"test_acc_{t}"] = float(acc[i])
            return out

    result = fit(
        model,
        (x_eeg, x_ecg, y),
        loss_fn,
        train_config,
        evaluate=evaluate,
        state_path=state_path,
        progress=progress,
        desc=desc,
    )
    return model, norm, result


@dataclass(frozen=True)
class CVConfig:
    """A cross-validation run: protocol, folds, which models, where to write."""

    protocol: str = "segment"
    n_folds: int = 10
    models: tuple[str, ...] = ("base", "maan")
    seed: int = 0
    embed_fold: int = 0  # fold whose test embeddings feed the t-SNE figure
    max_embed_points: int = 2000

    def __post_init__(self) -> None:
        if self.protocol not in EEG_ECG.protocols:
            raise ValueError(f"protocol must be one of {EEG_ECG.protocols}, got {self.protocol!r}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")


def _data_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_run_identity(path: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume a run folder written with other settings or other data."""
    identity = json.loads(json.dumps(identity))
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != identity:
            changed = sorted(k for k in identity if previous.get(k) != identity[k])
            raise ValueError(
                f"{path.parent} holds a run with different {', '.join(changed)}; "
                "use a new --out folder (or delete it) instead of resuming"
            )
    elif is_main_process():
        path.write_text(json.dumps(identity, indent=1))


def run_cv(
    eeg: np.ndarray,
    ecg: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray,
    cv_config: CVConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    model_overrides: dict[str, Any] | None = None,
    targets: Sequence[str] = ("arousal", "valence"),
    progress: bool = True,
) -> dict[str, Any]:
    """Cross-validate every model in ``cv_config.models`` on the same folds.

    Writes ``<out>/folds/<model>-fold<k>.json`` (metrics, history, timing), resume states
    in ``<out>/state/`` and the t-SNE inputs ``<out>/embeddings-<model>.npz``. Returns
    ``{"folds": [...], "models": {name: {"folds": [...], "summary": ...}}, ...}``.
    """
    out = Path(out_dir)
    (out / "folds").mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(parents=True, exist_ok=True)
    _check_run_identity(
        out / "run_config.json",
        {
            "cv_config": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cv_config).items()
            },
            "train_config": train_config.to_dict(),
            "model_overrides": model_overrides or {},
            "data_sha256": _data_digest(eeg, ecg, labels, subjects),
        },
    )
    folds = make_folds(cv_config.protocol, cv_config.n_folds, subjects, cv_config.seed)
    shapes = {
        "n_bands": int(eeg.shape[1]),
        "n_channels": int(eeg.shape[2]),
        "n_subwindows": int(eeg.shape[3]),
        "hrv_length": int(ecg.shape[2]),
        "n_targets": int(labels.shape[1]),
    }
    results: dict[str, Any] = {
        "protocol": cv_config.protocol,
        "n_folds": len(folds),
        "fold_sizes": [[len(tr), len(te)] for tr, te in folds],
        "models": {},
    }
    for name in cv_config.models:
        mcfg = EEG_ECG.config_dict({**(model_overrides or {}), **shapes, "name": name})
        fold_records = []
        for k, (tr, te) in enumerate(folds):
            rec_path = out / "folds" / f"{name}-fold{k}.json"
            if rec_path.is_file():
                fold_records.append(json.loads(rec_path.read_text()))
                continue
            t0 = time.perf_counter()
            train = FoldData(eeg[tr], ecg[tr], labels[tr])
            test = FoldData(eeg[te], ecg[te], labels[te])
            tcfg = TrainConfig(**{**train_config.to_dict(), "seed": train_config.seed + k})
            model, norm, fit_result = train_one(
                mcfg,
                train,
                tcfg,
                test=test,
                targets=targets,
                state_path=out / "state" / f"{name}-fold{k}.pt",
                progress=progress,
                desc=f"{name} fold {k + 1}/{len(folds)}",
            )
            t_eeg, t_ecg = normalized_tensors(norm, test.eeg, test.ecg)
            logits = predict(model, (t_eeg, t_ecg), device=tcfg.device, amp=tcfg.amp)
            probs = 1.0 / (1.0 + np.exp(-logits))
            metrics = multitarget_binary_metrics(test.labels, probs, targets)
            if k == cv_config.embed_fold:
                sel = np.random.default_rng(0).permutation(len(te))[: cv_config.max_embed_points]
                emb = predict(
                    model, (t_eeg[sel], t_ecg[sel]), device=tcfg.device, method="embed", amp=False
                )
                if is_main_process():
                    np.savez(out / f"embeddings-{name}.npz", embedding=emb, labels=test.labels[sel])
            record = {
                "model": name,
                "fold": k,
                "n_train": len(tr),
                "n_test": len(te),
                "metrics": metrics,
                "history": fit_result["history"],
                "train_seconds": fit_result["seconds"],
                "segments_per_second": fit_result["segments_per_second"],
                "segments_seen_per_rank": fit_result["segments_seen"],
                "world_size": fit_result["world_size"],
                "fold_seconds": time.perf_counter() - t0,
                "device": fit_result["device"],
            }
            if is_main_process():
                rec_path.write_text(json.dumps(record, indent=1))
            fold_records.append(record)
        results["models"][name] = {
            "model_config": mcfg,
            "folds": fold_records,
            "summary": summarize_folds([r["metrics"] for r in fold_records]),
        }
    return results
