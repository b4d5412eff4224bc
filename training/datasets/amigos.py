"""AMIGOS loader for the official preprocessed files (Miranda-Correa et al., IEEE TAFFC 2021).

Layout read here (``Data_Preprocessed_P01.mat`` ... either flat in one folder or one
folder per participant, ``Data_Preprocessed_P01/Data_Preprocessed_P01.mat``). Each file
holds 1×20 cell arrays:

- ``joined_data{k}``: samples × 17 at 128 Hz: 14 Emotiv EEG channels (AF3, F7, F3, FC5, T7,
  P7, O1, O2, P8, T8, FC6, F4, F8, AF4), ECG right, ECG left, GSR;
- ``labels_selfassessment{k}``: 1×12, **arousal first, then valence**, dominance, liking,
  familiarity (1–9), then 7 basic-emotion flags;
- ``labels_ext_annotation{k}``, ``VideoIDs{k}``.

Trials 0–15 are the short videos, 16–19 the long ones; a participant who missed a trial
has it stored empty. The first 5 s (640 samples) of every trial is a baseline.

Both ECG leads are recorded. When the chosen lead of a trial holds NaN and the other lead is
clean, the other lead is used for that trial and counted in :class:`LoadSummary`
(``ecg_lead_fallback``). Published readers report all-NaN ECG in 11 of the 16 short trials
of participant 9.

Trials that are empty, whose EEG or both ECG leads contain NaN, that are shorter than needed,
or that lack ratings are skipped and counted in :class:`LoadSummary`; they are never given a
label. EEG with NaN is not repaired: published readers list NaN EEG in the official release
for participants 12, 21-24 and 33; those trials are skipped with reason ``nan_eeg``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS

AMIGOS_FS = 128.0
# AMIGOS recorded with an Emotiv EPOC: the montage is the feature path's default.
AMIGOS_EEG_CHANNELS = EMOTIV_EPOC_CHANNELS
AMIGOS_COLUMNS = (*AMIGOS_EEG_CHANNELS, "ECG_right", "ECG_left", "GSR")
AMIGOS_BASELINE_S = 5.0
N_TRIALS = 20
N_SHORT = 16
ECG_LEADS = {"right": 14, "left": 15}
TRIAL_SETS = ("short", "long", "all")
FILE_PATTERN = re.compile(r"Data_Preprocessed_P(\d+)\.mat$")


@dataclass(frozen=True)
class AmigosConfig:
    """Which parts of AMIGOS to read.

    Attributes:
        root: folder with the ``Data_Preprocessed_P*.mat`` files (flat or per participant).
        ecg_lead: ``"right"`` (column 15 of 17) or ``"left"`` (column 16): the lead used
            unless it holds NaN in a trial where the other one is clean.
        trials: ``"short"`` (0–15), ``"long"`` (16–19) or ``"all"``.
        min_duration_s: trials shorter than this (baseline included) are skipped.
        subjects: participant numbers to keep (``None``: all found).
    """

    root: str
    ecg_lead: str = "right"
    trials: str = "short"
    min_duration_s: float = AMIGOS_BASELINE_S + 10.0
    subjects: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.ecg_lead not in ECG_LEADS:
            raise ValueError(f"ecg_lead must be one of {tuple(ECG_LEADS)}, got {self.ecg_lead!r}")
        if self.trials not in TRIAL_SETS:
            raise ValueError(f"trials must be one of {TRIAL_SETS}, got {self.trials!r}")
        if not self.min_duration_s > 0:
            raise ValueError(f"min_duration_s must be > 0 s, got {self.min_duration_s}")


@dataclass
class Trial:
    """One usable trial: signals in the file's units (µV for EEG), ratings on 1–9."""

    subject: str
    index: int
    video_id: str
    eeg: np.ndarray  # (14, n) float64, baseline included
    ecg: np.ndarray  # (n,) float64
    arousal: float
    valence: float
    ecg_lead: str = "right"  # the lead ``ecg`` came from

    @property
    def duration_s(self) -> float:
        return self.eeg.shape[1] / AMIGOS_FS


@dataclass
class LoadSummary:
    """What was read and what was skipped, with reasons."""

    files: list[str] = field(default_factory=list)
    loaded: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    # (subject, trial, lead used): the chosen ECG lead had NaN, the other one was clean
    ecg_lead_fallback: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(reason for _, _, reason in self.skipped))

    def to_dict(self) -> dict:
        return {
            "files": len(self.files),
            "trials_loaded": self.loaded,
            "trials_skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason,
            "skipped": [list(s) for s in self.skipped],
            "ecg_lead_fallback": len(self.ecg_lead_fallback),
            "ecg_lead_fallback_trials": [list(s) for s in self.ecg_lead_fallback],
        }

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped_by_reason.items()))
        fallback = len(self.ecg_lead_fallback)
        return (
            f"{len(self.files)} files, {self.loaded} trials loaded, {len(self.skipped)} skipped"
            + (f" ({reasons})" if reasons else "")
            + (f", {fallback} with the other ECG lead (chosen lead NaN)" if fallback else "")
        )


def find_amigos_files(root: str | Path) -> list[tuple[int, Path]]:
    """``(participant number, path)`` of every preprocessed file under ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"AMIGOS root {root} is not a folder")
    found: dict[int, Path] = {}
    for path in sorted(root.glob("*.mat")) + sorted(root.glob("*/*.mat")):
        m = FILE_PATTERN.search(path.name)
        if m:
            found.setdefault(int(m.group(1)), path)
    if not found:
        raise ValueError(
            f"no Data_Preprocessed_P*.mat files under {root} (flat or one folder per participant)"
        )
    return sorted(found.items())


def _cell(mat: dict, name: str, path: Path) -> np.ndarray:
    if name not in mat:
        raise ValueError(f"{path} has no variable {name!r}; is it an AMIGOS preprocessed file?")
    cell = np.asarray(mat[name], dtype=object).ravel()
    return cell


def _video_id(value) -> str:
    arr = np.asarray(value)
    if arr.size == 0:
        return ""
    item = arr.ravel()[0]
    return str(item).strip()


def _trial_indices(trials: str) -> range:
    return {"short": range(N_SHORT), "long": range(N_SHORT, N_TRIALS), "all": range(N_TRIALS)}[
        trials
    ]


def load_amigos(config: AmigosConfig) -> tuple[list[Trial], LoadSummary]:
    """Read every usable trial; see the module docstring for the layout and the skip rules."""
    from scipy.io import loadmat

    summary = LoadSummary()
    trials: list[Trial] = []
    other_lead = next(lead for lead in ECG_LEADS if lead != config.ecg_lead)
    min_samples = round(config.min_duration_s * AMIGOS_FS)
    for number, path in find_amigos_files(config.root):
        if config.subjects is not None and number not in config.subjects:
            continue
        subject = f"P{number:02d}"
        summary.files.append(str(path))
        try:
            mat = loadmat(path)
        except NotImplementedError:
            raise ValueError(
                f"{path} is a MATLAB v7.3 (HDF5) file; re-save it as v7 (save -v7) or use the "
                "official preprocessed AMIGOS download"
            ) from None
        except Exception as exc:  # scipy raises assorted types for a damaged file
            raise ValueError(
                f"{path} could not be read as a .mat file ({type(exc).__name__}: {exc})"
            ) from None
        data = _cell(mat, "joined_data", path)
        labels = _cell(mat, "labels_selfassessment", path)
        videos = _cell(mat, "VideoIDs", path) if "VideoIDs" in mat else None
        for k in _trial_indices(config.trials):
            if k >= data.size:
                summary.skipped.append((subject, k, "missing"))
                continue
            x = np.asarray(data[k], dtype=np.float64) if data[k] is not None else np.zeros((0, 0))
            if x.size == 0:
                summary.skipped.append((subject, k, "empty"))
                continue
            if x.ndim != 2 or x.shape[1] < len(AMIGOS_COLUMNS):
                summary.skipped.append((subject, k, "bad_shape"))
                continue
            if x.shape[0] < min_samples:
                summary.skipped.append((subject, k, "too_short"))
                continue
            eeg = x[:, :14]
            if not np.isfinite(eeg).all():
                summary.skipped.append((subject, k, "nan_eeg"))
                continue
            lead = config.ecg_lead
            ecg = x[:, ECG_LEADS[lead]]
            if not np.isfinite(ecg).all():
                lead = other_lead
                ecg = x[:, ECG_LEADS[lead]]
                if not np.isfinite(ecg).all():
                    summary.skipped.append((subject, k, "nan_ecg"))
                    continue
            lab = np.asarray(labels[k], dtype=np.float64).ravel() if k < labels.size else []
            if len(lab) < 2 or not np.isfinite(lab[:2]).all():
                summary.skipped.append((subject, k, "no_rating"))
                continue
            vid = _video_id(videos[k]) if videos is not None and k < videos.size else ""
            trials.append(
                Trial(
                    subject=subject,
                    index=k,
                    video_id=vid,
                    eeg=np.ascontiguousarray(eeg.T),
                    ecg=np.ascontiguousarray(ecg),
                    arousal=float(lab[0]),
                    valence=float(lab[1]),
                    ecg_lead=lead,
                )
            )
            if lead != config.ecg_lead:
                summary.ecg_lead_fallback.append((subject, k, lead))
            summary.loaded += 1
    if not summary.files:
        raise ValueError(f"no AMIGOS participant files matched subjects={config.subjects}")
    return trials, summary
