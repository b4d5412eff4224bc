"""AMIGOS-layout data: segmentation, feature extraction and the on-disk feature cache.

Trials are cut into windows of ``FeatureConfig.window_s`` (10 s) every
``segment_hop_s`` seconds of stimulus time; features come ONLY from
:func:`edge_emotion.kernels.features.trial_features` (the device's feature path). Each
trial is filtered causally from its first sample, baseline included, so the filter and
R-peak detector have settled (5 s of AMIGOS baseline) before the first window starts.

The cache (:mod:`edge_emotion.training.feature_cache`, which also holds the arrays, labels
and the parallel feature path every dataset shares) is named by ``FeatureConfig.digest()``
and a hash of the input files (names, sizes, modification times) and of the segmentation
settings, so a changed config or changed data never reuses stale features. Users'
recordings with a labels table: :mod:`edge_emotion.training.recording_data`.

For the export stage (INT8 calibration): :func:`load_feature_arrays`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

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
from edge_emotion.training.feature_cache import (
    FEATURE_CACHE_FORMAT,
    TARGETS,
    FeatureArrays,
    LabelConfig,
    compute_features,
    read_cache,
    resolve_cache,
    write_cache,
)


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
        if not 1.0 <= float(self.labels.threshold) <= 9.0:
            raise ValueError(
                f"label threshold must be on AMIGOS's 1-9 scale, got {self.labels.threshold}"
            )

    def amigos(self, window_s: float) -> AmigosConfig:
        return AmigosConfig(
            root=self.root,
            ecg_lead=self.ecg_lead,
            trials=self.trials,
            min_duration_s=AMIGOS_BASELINE_S + window_s,
            subjects=self.subjects,
        )


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


def _check_compatible(feature_config, fs: float = AMIGOS_FS) -> None:
    if feature_config.eeg_fs != fs or feature_config.ecg_fs != fs:
        raise ValueError(
            f"feature_config rates must match AMIGOS ({fs:g} Hz); got eeg_fs="
            f"{feature_config.eeg_fs:g}, ecg_fs={feature_config.ecg_fs:g}"
        )
    if feature_config.has_eeg and tuple(feature_config.eeg_channels) != AMIGOS_EEG_CHANNELS:
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
    results = compute_features(jobs, feature_config, workers, progress)
    return [(de, hrv, job[2]) for (de, hrv, *_), job in zip(results, jobs, strict=True)]


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
        w = len(we)
        eeg.append(None if de is None else np.asarray(de, np.float32))
        ecg.append(None if hrv is None else np.asarray(hrv, np.float32))
        ratings.append(np.tile(np.float32([t.arousal, t.valence]), (w, 1)))
        subj.append(np.full(w, index[t.subject], np.int64))
        trial_id.append(np.full(w, tid, np.int64))
        ends.append(np.asarray(we, np.float32))
    arrays = FeatureArrays(
        eeg=np.concatenate(eeg) if feature_config.has_eeg else None,
        ecg=np.concatenate(ecg)[:, None, :] if feature_config.has_ecg else None,
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
            "targets": list(TARGETS),
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


def load_feature_arrays(
    source: str | os.PathLike | DatasetConfig,
    labels: LabelConfig | None = None,
    feature_config=None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Cached features for calibration/evaluation: ``(eeg, ecg, labels)``.

    ``source`` is a cache ``.npz`` file, a cache folder (its newest cache is used), or a
    :class:`DatasetConfig` (features are computed and cached first if needed, with
    ``feature_config`` or the default). Returns EEG ``(N, bands, channels, subwindows)``
    float32, ECG ``(N, 1, hrv_length)`` float32 (raw, not normalised; ``None`` for a
    modality the features do not hold) and labels ``(N, targets)`` int64 (1 = high).
    """
    if isinstance(source, DatasetConfig):
        arrays, _, _ = prepare_features(source, feature_config, progress=False)
        labels = labels or source.labels
    else:
        arrays = read_cache(resolve_cache(source))
    return arrays.eeg, arrays.ecg, arrays.labels(labels)
