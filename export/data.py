"""Model inputs for INT8 calibration and held-out parity checks, one kind per model family.

Both kinds are an :class:`InputSet`: rows of inputs, optional labels and a description of
where they came from (the parity report names it).

EEG+ECG. A :class:`FeatureSet` holds *raw* model inputs (as the feature kernels produce them:
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

EEG + audio + video. An :class:`EAVInputs` holds model-ready inputs: windows of an
EAV-layout folder preprocessed with the checkpoint's data configuration by the training
loader (:func:`eav_inputs_from_folder`; labelled, so accuracy change is reported), or
:func:`synthetic_inputs`: the preprocessed forms the EAV loader produces — EEG and log-mel
windows z-scored per window (per channel for EEG), so standard normal draws standardised
the same way, and video frames uniform in [0, 1] — with a random modality hidden (zeroed,
mask 0) in a quarter of the rows, the case modality dropout trains for. They exercise every
op over realistic value ranges but carry no emotion, so the report then gives decision
agreement, not accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.normalization import Normalization
from edge_emotion.training.datasets.eav_layout import MODALITIES
from edge_emotion.training.feature_cache import LabelConfig, read_cache, resolve_cache


class InputSet:
    """Rows of model inputs with optional ``labels`` and a ``source`` description."""

    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:  # pragma: no cover - each kind counts its rows
        raise NotImplementedError

    def take(self, idx: np.ndarray) -> Any:  # pragma: no cover
        raise NotImplementedError

    def at_most(self, n: int) -> Any:
        """At most ``n`` rows, evenly spaced: every subject/trial, not the first few."""
        if len(self) <= n:
            return self
        return self.take(np.linspace(0, len(self) - 1, n).round().astype(int))


@dataclass(frozen=True)
class FeatureSet(InputSet):
    """Raw features (N windows) and optional labels (N, n_targets) of 0/1; ``eeg`` or
    ``ecg`` is ``None`` for features of a one-modality model."""

    eeg: np.ndarray | None
    ecg: np.ndarray | None
    labels: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        eeg = None if self.eeg is None else np.asarray(self.eeg, dtype=np.float64)
        ecg = None if self.ecg is None else np.asarray(self.ecg, dtype=np.float64)
        if ecg is not None and ecg.ndim == 2:
            ecg = ecg[:, None, :]
        if (
            (eeg is None and ecg is None)
            or (eeg is not None and eeg.ndim != 4)
            or (ecg is not None and (ecg.ndim != 3 or ecg.shape[1] != 1))
        ):
            raise ValueError(
                "features: eeg must be (N, bands, channels, subwindows) and ecg (N, 1, L) "
                "(one may be absent for a one-modality model), got "
                f"{None if eeg is None else eeg.shape} and {None if ecg is None else ecg.shape}"
            )
        arrays = [x for x in (eeg, ecg) if x is not None]
        sizes = [len(x) for x in arrays]
        if len(set(sizes)) != 1 or sizes[0] == 0:
            raise ValueError(f"features: eeg and ecg need the same N >= 1, got {sizes}")
        if not all(np.isfinite(x).all() for x in arrays):
            raise ValueError("features contain NaN or infinite values")
        labels = self.labels
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim == 1:
                labels = labels[:, None]
            if len(labels) != sizes[0] or not np.isin(labels, (0, 1)).all():
                raise ValueError(
                    f"features: labels must be (N, n_targets) of 0/1 with N={sizes[0]}, "
                    f"got shape {labels.shape}"
                )
            labels = labels.astype(np.int8)
        object.__setattr__(self, "eeg", eeg)
        object.__setattr__(self, "ecg", ecg)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.eeg if self.eeg is not None else self.ecg)

    def take(self, idx: np.ndarray, source: str | None = None) -> FeatureSet:
        return FeatureSet(
            None if self.eeg is None else self.eeg[idx],
            None if self.ecg is None else self.ecg[idx],
            None if self.labels is None else self.labels[idx],
            source or self.source,
        )

    def normalized(self, norm: Normalization) -> tuple[np.ndarray | None, np.ndarray | None]:
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
    """Unlabelled features drawn as mean + std * N(0, 1) from the normalisation statistics
    (of the modalities they hold)."""
    rng = np.random.default_rng(seed)
    eeg = ecg = None
    if norm.eeg_mean is not None:
        bands, channels = norm.eeg_mean.shape
        z = rng.standard_normal((n, bands, channels, n_subwindows))
        eeg = norm.eeg_mean[None, :, :, None] + norm.eeg_std[None, :, :, None] * z
    if norm.ecg_mean is not None:
        ecg = norm.ecg_mean + norm.ecg_std * rng.standard_normal((n, 1, hrv_length))
    return FeatureSet(eeg, ecg, None, f"gaussian draws from normalisation statistics (seed {seed})")


def is_training_cache(path: Path | str) -> bool:
    """True for a training feature cache (``.npz`` + ``.json`` manifest, or its folder)."""
    try:
        resolve_cache(path)
    except ValueError:
        return False
    return True


def features_from_training_cache(
    path: Path | str, ckpt: dict, seed: int = 0
) -> tuple[FeatureSet, FeatureSet]:
    """(calibration, held-out) from a training feature cache, split by subject.

    Held-out rows are the subjects listed in the checkpoint's
    ``metrics["holdout_subjects"]``; calibration rows are the others (the training
    subjects). Without a recorded hold-out, subjects are split in half with ``seed`` and
    the source says so (the held-out half may then have been seen in training).
    A session-baseline checkpoint gets its windows as training saw them: each session
    against its baseline, the baseline windows dropped (as the device's engine gets them).
    """
    cache = resolve_cache(path)
    arrays = read_cache(cache)
    baseline = (ckpt.get("dataset") or {}).get("session_baseline")
    if baseline:
        from edge_emotion.training.recording_data import apply_session_baseline

        arrays, _ = apply_session_baseline(
            arrays, float(baseline["baseline_s"]), baseline.get("scope", "subject")
        )
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


SYNTHETIC_EAV = (
    "synthetic inputs (seeded): EEG (30 x T) and log-mel windows of standard normal draws "
    "z-scored per window as the EAV loader does, video frames uniform in [0, 1], one "
    "random modality hidden (zeroed, mask 0) in 25 % of rows; unlabelled"
)


def synthetic_inputs(
    shapes: dict[str, tuple[int, ...]], n: int, seed: int, missing_fraction: float = 0.25
) -> dict[str, np.ndarray]:
    """``n`` synthetic model inputs in the loader's preprocessed form (see the module
    docstring); ``shapes`` per input without the batch axis."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)

    def zscored(shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal((n, *shape))
        return (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + 1e-6)

    eeg = zscored(shapes["eeg"], (-1,))  # per channel, as preprocess_eeg
    audio = zscored(shapes["audio"], (-2, -1))  # per window, as log_mel_windows
    video = rng.uniform(0.0, 1.0, (n, *shapes["video"]))
    mask = np.ones((n, len(MODALITIES)))
    hide = np.flatnonzero(rng.uniform(size=n) < missing_fraction)
    mask[hide, rng.integers(0, len(MODALITIES), hide.size)] = 0.0
    feeds = {"eeg": eeg, "audio": audio, "video": video}
    for i, m in enumerate(MODALITIES):
        feeds[m][mask[:, i] == 0] = 0.0
    feeds["mask"] = mask
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}


@dataclass(frozen=True)
class EAVInputs(InputSet):
    """Model inputs (``feeds``: name -> array, N rows), optional class labels (N,), source;
    ``seed`` of synthetic inputs (None for recorded ones)."""

    feeds: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.feeds["mask"])

    def take(self, idx: np.ndarray) -> EAVInputs:
        labels = None if self.labels is None else self.labels[idx]
        feeds = {k: v[idx] for k, v in self.feeds.items()}
        return EAVInputs(feeds, labels, self.source, self.seed)


def eav_inputs_from_folder(
    root: Path | str, data_config: dict[str, Any], shapes: dict[str, tuple[int, ...]]
) -> tuple[EAVInputs, EAVInputs]:
    """(calibration, held-out) windows of an EAV-layout folder, preprocessed with the
    checkpoint's ``data_config`` by :func:`edge_emotion.training.datasets.eav_loader.load_eav`;
    ``shapes`` are the model's inputs without the batch axis.

    Calibration takes the windows of every other trial, held-out those of the rest, so no
    trial is in both; which windows training saw is not recorded in a checkpoint, so
    held-out accuracy here is a parity measure, not a generalisation estimate.
    """
    from edge_emotion.training.datasets.eav_layout import list_subjects
    from edge_emotion.training.datasets.eav_loader import load_eav
    from edge_emotion.training.datasets.eav_preprocess import EAVConfig

    root = Path(root)
    try:
        subjects = list_subjects(root)
    except (FileNotFoundError, NotADirectoryError):
        subjects = []
    if not subjects:
        raise ValueError(f"{root} is not an EAV-layout folder (<root>/subjectNN/...)")
    try:
        data = load_eav(root, subjects, config=EAVConfig.from_dict(data_config))
    except (FileNotFoundError, KeyError) as exc:
        raise ValueError(f"cannot load EAV windows from {root}: {exc}") from None
    feeds = {
        "eeg": data.eeg,
        "audio": data.audio,
        "video": data.video.astype(np.float32) / 255.0,
        "mask": data.mask.astype(np.float32),
    }
    got = {k: tuple(v.shape[1:]) for k, v in feeds.items()}
    if got != {k: tuple(v) for k, v in shapes.items()}:
        raise ValueError(f"{root} gives input shapes {got}; the model takes {shapes}")
    feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
    source = f"EAV-layout folder {root.name} ({len(data)} windows, {data_config['task']} task)"
    everything = EAVInputs(feeds, np.asarray(data.label, dtype=np.int64), source)
    # alternate over the task's trials in recording order (the stored trial numbers
    # interleave the two tasks, so their parity would put every trial on one side)
    rank = np.unique(data.trial, return_inverse=True)[1]
    even = np.flatnonzero(rank % 2 == 0)
    odd = np.flatnonzero(rank % 2 == 1)
    if even.size == 0 or odd.size == 0:
        raise ValueError(f"{root} has too few trials to split calibration from held-out")
    return everything.take(even), everything.take(odd)
