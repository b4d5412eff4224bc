"""Cross-validation protocols and the base-vs-MAAN comparison of the paper's Table 1.

Protocols:

- ``"segment"``: the paper's 10-fold cross-validation over segments (shuffled K-fold on
  all windows). Windows of one trial, which overlap when ``segment_hop_s < window_s``,
  land in both training and test folds, so this measures within-recording fit and is
  optimistic; it is kept to compare with the paper.
- ``"subject"``: subject-independent, leave-subjects-out: every participant's segments
  are in exactly one test fold and never in its training folds.

Normalisation statistics (per band x channel for EEG, scalar for ECG) are fitted on each
training fold only (after each session's baseline correction when the normalisation mode
is ``session_baseline``, which the dataset applies: it needs no labels). Models take the
inputs the data holds (EEG and ECG, or one of them) and give one logit per target. Every
finished fold is written to ``<out>/folds/*.json``; an interrupted run resumes at the
first unfinished fold, mid-fold from the last epoch.
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
from edge_emotion.training.baseline import LOGREG, baseline_config, fit_baseline_fold
from edge_emotion.training.families import EEG_ECG
from edge_emotion.training.loop import TrainConfig, binary_loss, fit, is_main_process, predict
from edge_emotion.training.metrics import multitarget_binary_metrics, summarize_folds
from edge_emotion.training.models.maan import fit_depth


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


def normalized_tensors(norm: Normalization, inputs: dict[str, np.ndarray]) -> list[torch.Tensor]:
    """``norm.apply`` (the runtime engines' step) as float32 tensors, in input order."""
    e, c = norm.apply(inputs.get("eeg"), inputs.get("ecg"))
    out = {"eeg": e, "ecg": c}
    return [torch.from_numpy(np.ascontiguousarray(out[m])) for m in inputs]


def pos_weight(labels: np.ndarray) -> list[float]:
    """n_negative / n_positive per target, for a class-balanced BCE."""
    labels = np.asarray(labels)
    pos = labels.sum(axis=0).astype(np.float64)
    neg = labels.shape[0] - pos
    return [float(n / p) if p > 0 and n > 0 else 1.0 for n, p in zip(neg, pos, strict=True)]


def input_shapes(inputs: dict[str, np.ndarray], n_targets: int) -> dict[str, Any]:
    """The model config's shape fields for ``inputs`` (by name) and ``n_targets``."""
    shapes: dict[str, Any] = {"modalities": list(inputs), "n_targets": int(n_targets)}
    if "eeg" in inputs:
        _, b, c, s = inputs["eeg"].shape
        shapes.update(n_bands=int(b), n_channels=int(c), n_subwindows=int(s))
    else:
        shapes["n_channels"] = 0
    if "ecg" in inputs:
        shapes["hrv_length"] = int(inputs["ecg"].shape[2])
    return shapes


def fit_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its U-Net depth lowered to what its input shapes allow (a depth
    asked for by the user is the most it gets), and a one-modality model named ``base``."""
    cfg = EEG_ECG.config_dict({**config, "depth": 0})  # fills defaults; depth 0 always fits
    depth = fit_depth(
        int(config.get("depth", 2)),
        cfg["n_channels"],
        cfg["n_subwindows"],
        cfg["hrv_length"],
        cfg["modalities"],
    )
    return {**config, "depth": depth}


@dataclass
class FoldData:
    """Raw model inputs by name (``eeg``, ``ecg``, in input order) and (N, targets) labels."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray

    @classmethod
    def of(cls, arrays: Any, labels: np.ndarray, rows: np.ndarray) -> FoldData:
        """The windows ``rows`` of a dataset's FeatureArrays."""
        return cls(arrays.inputs(rows), labels[rows])


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
    normalization_mode: tuple[str, float | None] = ("global", None),
) -> tuple[torch.nn.Module, Normalization, dict[str, Any]]:
    """Fit the normalisation, build, train; returns ``(model, normalization, fit result)``.

    When ``test`` is given its loss and accuracies are recorded per epoch (curves only).
    ``normalization_mode``: ``(mode, baseline_s)`` recorded in the normalisation (the
    inputs are already baseline-corrected in session-baseline mode).
    """
    norm = Normalization.fit(train.inputs.get("eeg"), train.inputs.get("ecg"), *normalization_mode)
    x = normalized_tensors(norm, train.inputs)
    y = torch.from_numpy(np.asarray(train.labels, np.float32))
    torch.manual_seed(train_config.seed)
    model = EEG_ECG.build(model_config)
    loss_fn = binary_loss(pos_weight(train.labels))
    evaluate: Callable | None = None
    if test is not None:
        t_x = normalized_tensors(norm, test.inputs)
        t_y = torch.from_numpy(np.asarray(test.labels, np.float32))

        def evaluate(m: torch.nn.Module) -> dict[str, float]:
            logits = torch.from_numpy(
                predict(m, t_x, device=train_config.device, amp=train_config.amp)
            )
            out = {"test_loss": float(loss_fn(logits, t_y))}
            acc = ((logits > 0).float() == t_y).float().mean(dim=0)
            for i, t in enumerate(targets):
                out[f"test_acc_{t}"] = float(acc[i])
            return out

    result = fit(
        model,
        (*x, y),
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
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    subjects: np.ndarray,
    cv_config: CVConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    model_overrides: dict[str, Any] | None = None,
    targets: Sequence[str] = ("arousal", "valence"),
    progress: bool = True,
    normalization_mode: tuple[str, float | None] = ("global", None),
) -> dict[str, Any]:
    """Cross-validate every model in ``cv_config.models`` on the same folds.

    ``inputs``: raw model inputs by name (``eeg`` (N, bands, channels, subwindows),
    ``ecg`` (N, 1, L), or one of them); the models take exactly those. The name
    ``"logreg"`` in ``cv_config.models`` is the simple feature baseline
    (:mod:`edge_emotion.training.baseline`), fitted on the same folds.

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
            "data_sha256": _data_digest(*inputs.values(), labels, subjects),
            "normalization_mode": list(normalization_mode),
        },
    )
    folds = make_folds(cv_config.protocol, cv_config.n_folds, subjects, cv_config.seed)
    shapes = input_shapes(inputs, labels.shape[1])
    results: dict[str, Any] = {
        "protocol": cv_config.protocol,
        "n_folds": len(folds),
        "fold_sizes": [[len(tr), len(te)] for tr, te in folds],
        "models": {},
    }
    for name in cv_config.models:
        if name == LOGREG:
            mcfg = {"name": LOGREG, **baseline_config(normalization_mode)}
        else:
            mcfg = EEG_ECG.config_dict(
                fit_model_config({**(model_overrides or {}), **shapes, "name": name})
            )
        fold_records = []
        for k, (tr, te) in enumerate(folds):
            rec_path = out / "folds" / f"{name}-fold{k}.json"
            if rec_path.is_file():
                fold_records.append(json.loads(rec_path.read_text()))
                continue
            t0 = time.perf_counter()
            train = FoldData({m: x[tr] for m, x in inputs.items()}, labels[tr])
            test = FoldData({m: x[te] for m, x in inputs.items()}, labels[te])
            if name == LOGREG:
                record = {"model": name, "fold": k, "n_train": len(tr), "n_test": len(te)}
                record.update(fit_baseline_fold(train, test, targets, mcfg))
                record["fold_seconds"] = time.perf_counter() - t0
                if is_main_process():
                    rec_path.write_text(json.dumps(record, indent=1))
                fold_records.append(record)
                continue
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
                normalization_mode=normalization_mode,
            )
            t_x = normalized_tensors(norm, test.inputs)
            logits = predict(model, t_x, device=tcfg.device, amp=tcfg.amp)
            probs = 1.0 / (1.0 + np.exp(-logits))
            metrics = multitarget_binary_metrics(test.labels, probs, targets)
            if k == cv_config.embed_fold:
                sel = np.random.default_rng(0).permutation(len(te))[: cv_config.max_embed_points]
                emb = predict(
                    model, [t[sel] for t in t_x], device=tcfg.device, method="embed", amp=False
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
