"""Feature sets for INT8 calibration and held-out parity checks.

A :class:`FeatureSet` holds *raw* model inputs (as the feature kernels produce them:
EEG differential-entropy maps and HRV series) with optional binary labels; the export
normalises them with the checkpoint's statistics. Where they come from, best first:

1. The training feature cache (``edge_emotion.training.data``; the checkpoint records
   its path in ``dataset.feature_cache``, or pass it with ``--features``): calibration
   from the training subjects, held-out parity from the subjects training held out
   (``metrics.holdout_subjects``), labels binarised as in training.
2. ``--features FILE.npz`` — arrays ``eeg`` (N, bands, channels, subwindows), ``ecg``
   (N, 1, hrv_length) or (N, hrv_length), optional ``labels`` (N, n_targets) in {0, 1}
   and optional ``split`` (N,) strings/ints where ``"calib"``/0 marks calibration rows;
   for instance written from the training feature cache.
3. :func:`gaussian_features` — draws from the checkpoint's normalisation statistics
   (mean ± std per feature). Unlabelled, so the parity report then gives decision
   agreement but no accuracy change; the report names the source either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emotion.normalization import Normalization


@dataclass(frozen=True)
class FeatureSet:
    """Raw features (N windows) and optional labels (N, n_targets) of 0/1."""

    eeg: np.ndarray
    ecg: np.ndarray
    labels: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        eeg = np.asarray(self.eeg, dtype=np.float64)
        ecg = np.asarray(self.ecg, dtype=np.float64)
        if ecg.ndim == 2:
            ecg = ecg[:, None, :]
        if eeg.ndim != 4 or ecg.ndim != 3 or ecg.shape[1] != 1:
            raise ValueError(
                "features: eeg must be (N, bands, channels, subwindows) and ecg (N, 1, L), "
                f"got {eeg.shape} and {ecg.shape}"
            )
        if len(eeg) != len(ecg) or len(eeg) == 0:
            raise ValueError(
                f"features: eeg and ecg need the same N >= 1, got {len(eeg)}, {len(ecg)}"
            )
        if not (np.isfinite(eeg).all() and np.isfinite(ecg).all()):
            raise ValueError("features contain NaN or infinite values")
        labels = self.labels
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim == 1:
                labels = labels[:, None]
            if len(labels) != len(eeg) or not np.isin(labels, (0, 1)).all():
                raise ValueError(
                    f"features: labels must be (N, n_targets) of 0/1 with N={len(eeg)}, "
                    f"got shape {labels.shape}"
                )
            labels = labels.astype(np.int8)
        object.__setattr__(self, "eeg", eeg)
        object.__setattr__(self, "ecg", ecg)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.eeg)

    def take(self, idx: np.ndarray, source: str | None = None) -> FeatureSet:
        return FeatureSet(
            self.eeg[idx],
            self.ecg[idx],
            None if self.labels is None else self.labels[idx],
            source or self.source,
        )

    def normalized(self, norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
        return norm.apply(self.eeg, self.ecg)


def load_npz_features(path: Path | str) -> tuple[FeatureSet, FeatureSet]:
    """(calibration, held-out) from an ``.npz`` (see the module docstring).

    Without a ``split`` array, rows are shuffled with a fixed seed and split 50/50.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--features file {path} does not exist")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in ("eeg", "ecg") if k not in z]
        if missing:
            raise ValueError(f"{path} lacks arrays {missing} (has {sorted(z.files)})")
        full = FeatureSet(z["eeg"], z["ecg"], z.get("labels", None), f"features file {path}")
        split = z.get("split", None)
    if split is not None:
        split = np.asarray(split).astype(str)
        calib = np.isin(split, ("calib", "calibration", "train", "0"))
        if calib.all() or not calib.any():
            raise ValueError(f"{path}: split must mark some rows 'calib' and some held out")
        return full.take(np.flatnonzero(calib)), full.take(np.flatnonzero(~calib))
    return split_features(full)


def split_features(
    full: FeatureSet, calib_fraction: float = 0.5, seed: int = 0
) -> tuple[FeatureSet, FeatureSet]:
    """Shuffle rows with ``seed`` and split into (calibration, held-out)."""
    if len(full) < 2:
        raise ValueError("need at least 2 feature rows to split calibration/held-out")
    order = np.random.default_rng(seed).permutation(len(full))
    n_cal = min(max(round(len(full) * calib_fraction), 1), len(full) - 1)
    return full.take(np.sort(order[:n_cal])), full.take(np.sort(order[n_cal:]))


def gaussian_features(
    norm: Normalization, n_subwindows: int, hrv_length: int, n: int, seed: int = 0
) -> FeatureSet:
    """Unlabelled features drawn as mean + std * N(0, 1) from the normalisation statistics."""
    rng = np.random.default_rng(seed)
    bands, channels = norm.eeg_mean.shape
    z = rng.standard_normal((n, bands, channels, n_subwindows))
    eeg = norm.eeg_mean[None, :, :, None] + norm.eeg_std[None, :, :, None] * z
    ecg = norm.ecg_mean + norm.ecg_std * rng.standard_normal((n, 1, hrv_length))
    return FeatureSet(eeg, ecg, None, f"gaussian draws from normalisation statistics (seed {seed})")


def is_training_cache(path: Path | str) -> bool:
    """True for a training feature cache (``.npz`` + ``.json`` manifest, or its folder)."""
    try:
        resolve_training_cache(path)
    except ValueError:
        return False
    return True


def resolve_training_cache(path: Path | str) -> Path:
    """The cache ``.npz`` for a file or folder (newest cache in a folder)."""
    import json

    p = Path(path)
    candidates = sorted(p.glob("*.npz"), key=lambda q: q.stat().st_mtime) if p.is_dir() else [p]
    for c in reversed(candidates):
        meta = c.with_suffix(".json")
        if c.is_file() and meta.is_file():
            try:
                fmt = json.loads(meta.read_text()).get("format", "")
            except (OSError, ValueError):
                continue
            if str(fmt).startswith("edge_emotion.feature_cache/"):
                return c
    raise ValueError(f"{p} is not a training feature cache (.npz with its .json manifest)")


def features_from_training_cache(
    path: Path | str, ckpt: dict, seed: int = 0
) -> tuple[FeatureSet, FeatureSet]:
    """(calibration, held-out) from a training feature cache, split by subject.

    Held-out rows are the subjects listed in the checkpoint's
    ``metrics["holdout_subjects"]``; calibration rows are the others (the training
    subjects). Without a recorded hold-out, subjects are split in half with ``seed`` and
    the source says so (the held-out half may then have been seen in training).
    """
    from edge_emotion.training.data import LabelConfig, read_cache

    cache = resolve_training_cache(path)
    arrays = read_cache(cache)
    label_cfg = (ckpt.get("dataset") or {}).get("labels")
    labels = arrays.labels(LabelConfig(**label_cfg) if isinstance(label_cfg, dict) else None)
    names = list(arrays.subject_names)
    held_names = list((ckpt.get("metrics") or {}).get("holdout_subjects") or [])
    subj_names = np.asarray([names[i] for i in arrays.subject])
    if held_names:
        held = np.isin(subj_names, held_names)
        how = f"held-out subjects {held_names} of training cache {cache.name}"
        how_cal = f"training subjects of training cache {cache.name}"
    else:
        uniq = np.unique(arrays.subject)
        pick = np.random.default_rng(seed).permutation(uniq)[: max(len(uniq) // 2, 1)]
        held = np.isin(arrays.subject, pick)
        how = f"half the subjects of training cache {cache.name} (no hold-out recorded)"
        how_cal = f"other half of the subjects of training cache {cache.name}"
    if held.all() or not held.any():
        raise ValueError(f"{cache}: cannot split calibration/held-out rows by subject")
    full = FeatureSet(arrays.eeg, arrays.ecg, labels, str(cache))
    return full.take(np.flatnonzero(~held), how_cal), full.take(np.flatnonzero(held), how)
