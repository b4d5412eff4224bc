"""Feature arrays of a dataset, their labels, the parallel feature path and the cache.

Every dataset (AMIGOS, :mod:`edge_emotion.training.data`; users' recordings,
:mod:`edge_emotion.training.recording_data`) ends as :class:`FeatureArrays`: the model
inputs of each window (EEG differential-entropy maps, ECG RR series; a modality the
feature configuration does not take is ``None``), the window's targets (ratings or 0/1),
its subject, recording/trial and end time. Features come ONLY from
:func:`edge_emotion.kernels.features.trial_features` (the device's feature path), run over
trials in parallel by :func:`compute_features`.

The cache is one ``.npz`` (no pickles) plus a ``.json`` manifest per (feature config,
segmentation, data identity); each dataset names its files (the name holds the feature
config's digest and a hash of the inputs) so changed data never reuses stale features.
The manifest's ``targets`` names the label columns (AMIGOS caches, written before the key,
hold arousal and valence) and ``binary_targets`` those used as they are (0/1).
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

TARGETS = ("arousal", "valence")
LABEL_METHODS = ("fixed", "subject_mean", "subject_median")
FEATURE_CACHE_FORMAT = "edge_emotion.feature_cache/1"
INPUTS = ("eeg", "ecg")  # model inputs, in order


@dataclass(frozen=True)
class LabelConfig:
    """Binarisation of ratings into low (0) / high (1).

    ``method="fixed"``: high when rating >= ``threshold`` (default 5, the middle of the
    1–9 scale of AMIGOS). ``"subject_mean"`` / ``"subject_median"``: high when rating >=
    that participant's mean / median rating over their usable trials (removes personal use
    of the scale). Targets that hold only 0/1 (a labels table's classes) are used as
    they are.
    """

    method: str = "fixed"
    threshold: float = 5.0

    def __post_init__(self) -> None:
        if self.method not in LABEL_METHODS:
            raise ValueError(f"label method must be one of {LABEL_METHODS}, got {self.method!r}")
        if not math.isfinite(float(self.threshold)):
            raise ValueError(f"label threshold must be a finite number, got {self.threshold}")


def binarize_ratings(ratings: np.ndarray, groups: np.ndarray, config: LabelConfig) -> np.ndarray:
    """(N, targets) ratings -> int64 labels; ``groups`` (N,) are subject ids.

    Per-subject thresholds are computed over the distinct (subject, rating) rows given, so
    pass one row per trial (segments of one trial share the trial's rating).
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    groups = np.asarray(groups)
    if ratings.ndim != 2 or groups.shape != (ratings.shape[0],):
        raise ValueError(
            f"ratings must be (N, targets) and groups (N,), got {ratings.shape}, {groups.shape}"
        )
    if config.method == "fixed":
        return (ratings >= config.threshold).astype(np.int64)
    out = np.zeros(ratings.shape, dtype=np.int64)
    reduce = np.mean if config.method == "subject_mean" else np.median
    for g in np.unique(groups):
        rows = groups == g
        thr = reduce(ratings[rows], axis=0)
        out[rows] = ratings[rows] >= thr
    return out


@dataclass
class FeatureArrays:
    """Windows of a dataset: features, targets and where each window came from."""

    eeg: np.ndarray | None  # (N, bands, channels, subwindows) float32; None: not a model input
    ecg: np.ndarray | None  # (N, 1, hrv_length) float32; None: not a model input
    ratings: np.ndarray  # (N, targets) float32: ratings, or 0/1 of binary targets
    subject: np.ndarray  # (N,) int64 index into subject_names
    trial: np.ndarray  # (N,) int64 trial / labelled span id (unique per subject)
    window_end_s: np.ndarray  # (N,) float32, seconds from the trial's first sample
    subject_names: list[str]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.ratings.shape[0])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.meta.get("targets", TARGETS))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in INPUTS if getattr(self, m) is not None)

    @property
    def feature_config(self):
        """The :class:`~edge_emotion.kernels.config.FeatureConfig` the features follow."""
        from edge_emotion.kernels.config import FeatureConfig

        return FeatureConfig.from_dict(self.meta["feature_config"])

    def inputs(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Model inputs by name, in input order (of ``rows``, or all)."""
        return {
            m: (getattr(self, m) if rows is None else getattr(self, m)[rows])
            for m in self.modalities
        }

    def take(self, rows: np.ndarray) -> FeatureArrays:
        """The windows ``rows`` (subject names and meta kept)."""
        rows = np.asarray(rows)
        return replace(
            self,
            eeg=None if self.eeg is None else self.eeg[rows],
            ecg=None if self.ecg is None else self.ecg[rows],
            ratings=self.ratings[rows],
            subject=self.subject[rows],
            trial=self.trial[rows],
            window_end_s=self.window_end_s[rows],
        )

    def labels(self, config: LabelConfig | None = None) -> np.ndarray:
        """(N, targets) int64 binary labels: binary targets as they are, ratings binarised
        with ``config`` (per-subject thresholds use one row per trial)."""
        config = config or LabelConfig()
        out = np.zeros(self.ratings.shape, dtype=np.int64)
        binary = set(self.meta.get("binary_targets", ()))
        rated = [i for i, t in enumerate(self.targets) if t not in binary]
        for i, t in enumerate(self.targets):
            if t in binary:
                out[:, i] = self.ratings[:, i].astype(np.int64)
        if rated and len(self):
            _, first = np.unique(self.trial, return_index=True)
            per_trial = binarize_ratings(self.ratings[first][:, rated], self.subject[first], config)
            lookup = dict(zip(self.trial[first].tolist(), range(len(first)), strict=True))
            out[:, rated] = per_trial[[lookup[t] for t in self.trial.tolist()]]
        return out

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic", False))


def _trial_job(eeg, ecg, config_dict: dict, ends: np.ndarray):
    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.kernels.features import trial_features

    config = FeatureConfig.from_dict(config_dict)
    return trial_features(eeg, ecg, config, ends, return_beats=True, return_artefacts=True)


def compute_features(
    jobs: list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]],
    feature_config,
    workers: int = 1,
    progress: bool = True,
    unit: str = "trial",
) -> list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]]:
    """Per job ``(eeg, ecg, window ends)``: ``(de_maps (W,b,c,s), hrv (W,L), n_beats (W,),
    n_artefacts (W,))`` from :func:`~edge_emotion.kernels.features.trial_features`, in job
    order, computed in ``workers`` processes; a modality the config does not take gives
    ``None``."""
    cfg = feature_config.to_dict()
    b, c, s = feature_config.eeg_shape
    results: list = [None] * len(jobs)
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="features", unit=unit, disable=not progress)
    try:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(_trial_job, eeg, ecg, cfg, ends): i
                    for i, (eeg, ecg, ends) in enumerate(jobs)
                    if len(ends)
                }
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
        else:
            for i, (eeg, ecg, ends) in enumerate(jobs):
                if len(ends):
                    results[i] = _trial_job(eeg, ecg, cfg, ends)
                bar.update(1)
    finally:
        bar.close()
    empty = (
        np.zeros((0, b, c, s), np.float32) if feature_config.has_eeg else None,
        np.zeros((0, feature_config.hrv_length), np.float32) if feature_config.has_ecg else None,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )
    return [r if r is not None else empty for r in results]


def write_cache(arrays: FeatureArrays, path: str | os.PathLike) -> Path:
    """Write ``path`` (.npz, no pickles) and its ``.json`` manifest atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(
        tmp,
        **arrays.inputs(),
        ratings=arrays.ratings,
        subject=arrays.subject,
        trial=arrays.trial,
        window_end_s=arrays.window_end_s,
    )
    os.replace(tmp, path)
    manifest = {**arrays.meta, "subject_names": arrays.subject_names, "n_segments": len(arrays)}
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=1))
    return path


def read_cache(path: str | os.PathLike) -> FeatureArrays:
    """Read a cache file written by :func:`write_cache` (``allow_pickle=False``)."""
    path = Path(path)
    manifest_path = path.with_suffix(".json")
    if not path.is_file() or not manifest_path.is_file():
        raise ValueError(f"feature cache {path} (and its .json manifest) not found")
    meta = json.loads(manifest_path.read_text())
    if meta.get("format") != FEATURE_CACHE_FORMAT:
        raise ValueError(f"{manifest_path} is not an {FEATURE_CACHE_FORMAT} manifest")
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    names = meta.pop("subject_names")
    meta.pop("n_segments", None)
    for m in INPUTS:
        data.setdefault(m, None)
    return FeatureArrays(subject_names=names, meta=meta, **data)


def resolve_cache(source: str | os.PathLike) -> Path:
    """The cache ``.npz`` of a file, or the newest cache in a folder (``.npz`` with its
    ``.json`` manifest of this cache format)."""
    p = Path(source)
    candidates = sorted(p.glob("*.npz"), key=lambda q: q.stat().st_mtime) if p.is_dir() else [p]
    for c in reversed(candidates):
        meta = c.with_suffix(".json")
        if c.is_file() and meta.is_file():
            try:
                fmt = json.loads(meta.read_text()).get("format", "")
            except (OSError, ValueError):
                continue
            if fmt == FEATURE_CACHE_FORMAT:
                return c
    raise ValueError(f"{p} is not a training feature cache (.npz with its .json manifest)")


def class_balance(labels: np.ndarray, targets=TARGETS) -> dict[str, dict[str, float]]:
    """Share of high labels per target, and counts."""
    labels = np.asarray(labels)
    return {
        t: {
            "high": int(labels[:, i].sum()),
            "low": int((1 - labels[:, i]).sum()),
            "high_fraction": float(labels[:, i].mean()) if len(labels) else float("nan"),
        }
        for i, t in enumerate(targets)
    }


def describe(arrays: FeatureArrays, labels: LabelConfig | None = None) -> dict[str, Any]:
    """Summary printed by the CLI and stored in reports."""
    y = arrays.labels(labels)
    return {
        "segments": len(arrays),
        "subjects": len(arrays.subject_names),
        "trials": len(np.unique(arrays.trial)),
        "synthetic": arrays.synthetic,
        "targets": list(arrays.targets),
        "modalities": list(arrays.modalities),
        "class_balance": class_balance(y, arrays.targets),
        "load_summary": {
            k: v for k, v in arrays.meta.get("load_summary", {}).items() if k != "skipped"
        },
        "labels": asdict(labels or LabelConfig()),
    }
