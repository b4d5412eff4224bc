"""Segmentation, feature extraction and the on-disk feature cache.

Trials are cut into windows of ``FeatureConfig.window_s`` (10 s) every
``segment_hop_s`` seconds of stimulus time; features come ONLY from
:func:`edge_emotion.kernels.features.trial_features` (the device's feature path). Each
trial is filtered causally from its first sample, baseline included, so the filter and
R-peak detector have settled (5 s of AMIGOS baseline) before the first window starts.

The cache is one ``.npz`` (no pickles) plus a ``.json`` manifest per (feature config,
segmentation, data identity): the file name holds ``FeatureConfig.digest()`` and a hash
of the input files (names, sizes, modification times) and of the segmentation settings,
so a changed config or changed data never reuses stale features.

For the export stage (INT8 calibration): :func:`load_feature_arrays`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.training.datasets.amigos import (
    AMIGOS_BASELINE_S,
    AMIGOS_EEG_CHANNELS,
    AMIGOS_FS,
    AmigosConfig,
    Trial,
    find_amigos_files,
    load_amigos,
)
from edge_emotion.training.datasets.synthetic import SYNTHETIC_MARKER, is_synthetic

TARGETS = ("arousal", "valence")
LABEL_METHODS = ("fixed", "subject_mean", "subject_median")
FEATURE_CACHE_FORMAT = "edge_emotion.feature_cache/1"


@dataclass(frozen=True)
class LabelConfig:
    """Binarisation of 1–9 ratings into low (0) / high (1).

    ``method="fixed"``: high when rating >= ``threshold`` (default 5). ``"subject_mean"`` /
    ``"subject_median"``: high when rating >= that participant's mean / median rating over
    their usable trials (removes personal use of the scale).
    """

    method: str = "fixed"
    threshold: float = 5.0

    def __post_init__(self) -> None:
        if self.method not in LABEL_METHODS:
            raise ValueError(f"label method must be one of {LABEL_METHODS}, got {self.method!r}")
        if not 1.0 <= float(self.threshold) <= 9.0:
            raise ValueError(f"label threshold must be on the 1–9 scale, got {self.threshold}")


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


@dataclass(frozen=True)
class DatasetConfig:
    """Where the recordings are and how they become segments.

    Attributes:
        root: AMIGOS preprocessed folder (real or written by ``synth``).
        cache_dir: folder for the feature cache.
        segment_hop_s: seconds between consecutive training windows (the window length
            is ``FeatureConfig.window_s``; a hop below it makes overlapping windows).
        ecg_lead, trials, subjects: passed to :class:`AmigosConfig`.
        labels: rating binarisation.
        workers: processes extracting features (``<= 1``: in this process).
    """

    root: str
    cache_dir: str = "feature_cache"
    segment_hop_s: float = 2.0
    ecg_lead: str = "right"
    trials: str = "short"
    subjects: tuple[int, ...] | None = None
    labels: LabelConfig = field(default_factory=LabelConfig)
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.segment_hop_s > 0:
            raise ValueError(f"segment_hop_s must be > 0 s, got {self.segment_hop_s}")

    def amigos(self, window_s: float) -> AmigosConfig:
        return AmigosConfig(
            root=self.root,
            ecg_lead=self.ecg_lead,
            trials=self.trials,
            min_duration_s=AMIGOS_BASELINE_S + window_s,
            subjects=self.subjects,
        )


@dataclass
class FeatureArrays:
    """Segments of a dataset: features, ratings and where each segment came from."""

    eeg: np.ndarray  # (N, bands, channels, subwindows) float32
    ecg: np.ndarray  # (N, 1, hrv_length) float32
    ratings: np.ndarray  # (N, 2) float32, arousal then valence
    subject: np.ndarray  # (N,) int64 index into subject_names
    trial: np.ndarray  # (N,) int64 global trial id (unique per subject x trial)
    window_end_s: np.ndarray  # (N,) float32, seconds from trial start (baseline included)
    subject_names: list[str]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.eeg.shape[0])

    def labels(self, config: LabelConfig | None = None) -> np.ndarray:
        """(N, 2) int64 binary labels; per-subject thresholds use one row per trial."""
        config = config or LabelConfig()
        _, first = np.unique(self.trial, return_index=True)
        per_trial = binarize_ratings(self.ratings[first], self.subject[first], config)
        lookup = dict(zip(self.trial[first].tolist(), range(len(first)), strict=True))
        return per_trial[[lookup[t] for t in self.trial.tolist()]]

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic", False))


def window_ends(
    n_samples: int, fs: float, window_s: float, hop_s: float, start_s: float
) -> np.ndarray:
    """End times (s) of windows starting at ``start_s`` every ``hop_s`` that fit in the trial."""
    duration = n_samples / fs
    first = start_s + window_s
    if first > duration + 1e-9:
        return np.zeros(0)
    count = int(np.floor((duration - first) / hop_s + 1e-9)) + 1
    return first + hop_s * np.arange(count)


def _trial_job(eeg: np.ndarray, ecg: np.ndarray, config_dict: dict, ends: np.ndarray):
    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.kernels.features import trial_features

    config = FeatureConfig.from_dict(config_dict)
    return trial_features(eeg, ecg, config, ends)


def _check_compatible(feature_config, fs: float = AMIGOS_FS) -> None:
    if feature_config.eeg_fs != fs or feature_config.ecg_fs != fs:
        raise ValueError(
            f"feature_config rates must match AMIGOS ({fs:g} Hz); got eeg_fs="
            f"{feature_config.eeg_fs:g}, ecg_fs={feature_config.ecg_fs:g}"
        )
    if tuple(feature_config.eeg_channels) != AMIGOS_EEG_CHANNELS:
        raise ValueError(
            f"feature_config.eeg_channels must be the AMIGOS montage {AMIGOS_EEG_CHANNELS}, "
            f"got {feature_config.eeg_channels}"
        )


def data_identity(dataset: DatasetConfig) -> str:
    """sha256 over the input files (name, size, mtime) and the segmentation settings."""
    h = hashlib.sha256()
    for number, path in find_amigos_files(dataset.root):
        if dataset.subjects is not None and number not in dataset.subjects:
            continue
        st = path.stat()
        h.update(f"{path.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    marker = Path(dataset.root) / SYNTHETIC_MARKER
    if marker.is_file():
        h.update(marker.read_bytes())
    seg = {
        "segment_hop_s": float(dataset.segment_hop_s),
        "ecg_lead": dataset.ecg_lead,
        # trials whose chosen lead is NaN now use the other lead: older caches lack them
        "ecg_lead_fallback": True,
        "trials": dataset.trials,
        "subjects": list(dataset.subjects) if dataset.subjects else None,
        "baseline_s": AMIGOS_BASELINE_S,
    }
    h.update(json.dumps(seg, sort_keys=True).encode())
    return h.hexdigest()


def cache_path(dataset: DatasetConfig, feature_config) -> Path:
    """``<cache_dir>/amigos-<feature digest[:12]>-<data identity[:12]>.npz``."""
    name = f"amigos-{feature_config.digest()[:12]}-{data_identity(dataset)[:12]}.npz"
    return Path(dataset.cache_dir) / name


def extract_features(
    trials: list[Trial],
    feature_config,
    segment_hop_s: float,
    workers: int = 1,
    progress: bool = True,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per trial: ``(de_maps (W,b,c,s), hrv (W,L), window ends (W,))``, in trial order."""
    _check_compatible(feature_config)
    cfg = feature_config.to_dict()
    jobs = [
        (
            t.eeg,
            t.ecg,
            window_ends(
                t.eeg.shape[1], AMIGOS_FS, feature_config.window_s, segment_hop_s, AMIGOS_BASELINE_S
            ),
        )
        for t in trials
    ]
    results: list = [None] * len(jobs)
    bar = _bar(len(jobs), progress)
    try:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(_trial_job, eeg, ecg, cfg, ends): i
                    for i, (eeg, ecg, ends) in enumerate(jobs)
                    if len(ends)
                }
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = (*fut.result(), jobs[i][2])
                    bar.update(1)
        else:
            for i, (eeg, ecg, ends) in enumerate(jobs):
                if len(ends):
                    results[i] = (*_trial_job(eeg, ecg, cfg, ends), ends)
                bar.update(1)
    finally:
        bar.close()
    b, c, s = feature_config.eeg_shape
    empty = (
        np.zeros((0, b, c, s), np.float32),
        np.zeros((0, feature_config.hrv_length), np.float32),
        np.zeros(0),
    )
    return [r if r is not None else empty for r in results]


def _bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="features", unit="trial", disable=not enabled)


def prepare_features(
    dataset: DatasetConfig,
    feature_config=None,
    *,
    progress: bool = True,
    force: bool = False,
) -> tuple[FeatureArrays, Path, bool]:
    """Load from the cache or compute and cache; returns ``(arrays, cache file, from_cache)``."""
    from edge_emotion.kernels.config import FeatureConfig

    feature_config = feature_config or FeatureConfig()
    _check_compatible(feature_config)
    path = cache_path(dataset, feature_config)
    if path.is_file() and not force:
        return read_cache(path), path, True
    t0 = time.perf_counter()
    trials, summary = load_amigos(dataset.amigos(feature_config.window_s))
    if not trials:
        raise ValueError(f"no usable trials under {dataset.root}: {summary}")
    per_trial = extract_features(
        trials, feature_config, dataset.segment_hop_s, dataset.workers, progress
    )
    names = sorted({t.subject for t in trials})
    index = {n: i for i, n in enumerate(names)}
    eeg, ecg, ratings, subj, trial_id, ends = [], [], [], [], [], []
    for tid, (t, (de, hrv, we)) in enumerate(zip(trials, per_trial, strict=True)):
        w = de.shape[0]
        eeg.append(np.asarray(de, np.float32))
        ecg.append(np.asarray(hrv, np.float32))
        ratings.append(np.tile(np.float32([t.arousal, t.valence]), (w, 1)))
        subj.append(np.full(w, index[t.subject], np.int64))
        trial_id.append(np.full(w, tid, np.int64))
        ends.append(np.asarray(we, np.float32))
    arrays = FeatureArrays(
        eeg=np.concatenate(eeg),
        ecg=np.concatenate(ecg)[:, None, :],
        ratings=np.concatenate(ratings),
        subject=np.concatenate(subj),
        trial=np.concatenate(trial_id),
        window_end_s=np.concatenate(ends),
        subject_names=names,
        meta={
            "format": FEATURE_CACHE_FORMAT,
            "dataset": "amigos",
            "root": str(Path(dataset.root).resolve()),
            "synthetic": is_synthetic(dataset.root),
            "feature_config": feature_config.to_dict(),
            "feature_digest": feature_config.digest(),
            "data_identity": data_identity(dataset),
            "segmentation": {
                "window_s": feature_config.window_s,
                "segment_hop_s": dataset.segment_hop_s,
                "baseline_s": AMIGOS_BASELINE_S,
                "ecg_lead": dataset.ecg_lead,
                "trials": dataset.trials,
            },
            "load_summary": summary.to_dict(),
            "trials": [
                {"subject": t.subject, "trial": t.index, "video_id": t.video_id} for t in trials
            ],
            "extract_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if len(arrays) == 0:
        raise ValueError(
            f"no {feature_config.window_s:g}-s windows fit in the trials under {dataset.root}"
        )
    write_cache(arrays, path)
    return arrays, path, False


def write_cache(arrays: FeatureArrays, path: str | os.PathLike) -> Path:
    """Write ``path`` (.npz, no pickles) and its ``.json`` manifest atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(
        tmp,
        eeg=arrays.eeg,
        ecg=arrays.ecg,
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


def load_feature_arrays(
    source: str | os.PathLike | DatasetConfig,
    labels: LabelConfig | None = None,
    feature_config=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached features for calibration/evaluation: ``(eeg, ecg, labels)``.

    ``source`` is a cache ``.npz`` file, a cache folder (its newest cache is used), or a
    :class:`DatasetConfig` (features are computed and cached first if needed, with
    ``feature_config`` or the default). Returns EEG ``(N, bands, channels, subwindows)``
    float32, ECG ``(N, 1, hrv_length)`` float32 (raw, not normalised) and labels ``(N, 2)``
    int64 (arousal, valence; 1 = high).
    """
    if isinstance(source, DatasetConfig):
        arrays, _, _ = prepare_features(source, feature_config, progress=False)
        labels = labels or source.labels
    else:
        arrays = read_cache(resolve_cache(source))
    return arrays.eeg, arrays.ecg, arrays.labels(labels)


def class_balance(labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of high labels per target, and counts."""
    labels = np.asarray(labels)
    return {
        t: {
            "high": int(labels[:, i].sum()),
            "low": int((1 - labels[:, i]).sum()),
            "high_fraction": float(labels[:, i].mean()) if len(labels) else float("nan"),
        }
        for i, t in enumerate(TARGETS)
    }


def describe(arrays: FeatureArrays, labels: LabelConfig | None = None) -> dict[str, Any]:
    """Summary printed by the CLI and stored in reports."""
    y = arrays.labels(labels)
    return {
        "segments": len(arrays),
        "subjects": len(arrays.subject_names),
        "trials": len(np.unique(arrays.trial)),
        "synthetic": arrays.synthetic,
        "class_balance": class_balance(y),
        "load_summary": {
            k: v for k, v in arrays.meta.get("load_summary", {}).items() if k != "skipped"
        },
        "labels": asdict(labels or LabelConfig()),
    }
