"""EAV participants -> windows in memory, through the one decoding path the cache shares.

:func:`plan_subject` finds a participant's files and checks every audio/video file name
against the EEG labels before anything is decoded; :func:`iter_subject_trials` decodes the
planned trials one at a time (the in-memory loader here and the on-disk cache,
:mod:`.eav_cache`, both read through it); :func:`load_eav` holds the windows of several
participants in memory (:class:`EAVData`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_emotion.training.datasets.eav_layout import (
    EMOTIONS,
    MEDIA,
    N_EEG_CHANNELS,
    TASKS,
    list_subjects,
    parse_trial_file_name,
    read_mat_variable,
    subject_files,
    trial_labels,
)
from edge_emotion.training.datasets.eav_preprocess import (
    EAVConfig,
    log_mel_windows,
    preprocess_eeg,
    read_video_windows,
    read_wav,
)


@dataclass
class EAVData:
    """Windows of one or more participants (N samples)."""

    eeg: np.ndarray  # (N, 30, T) float32, per-window per-channel z-scored
    audio: np.ndarray  # (N, n_mels, frames) float32, per-window standardised log-mel
    video: np.ndarray  # (N, F, 3, H, W) uint8
    mask: np.ndarray  # (N, 3) bool: eeg, audio, video present
    label: np.ndarray  # (N,) int64 class index into EMOTIONS
    subject: np.ndarray  # (N,) int64
    trial: np.ndarray  # (N,) int64, 0-based EEG trial index
    window: np.ndarray  # (N,) int64
    summary: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Rows ``idx`` of eeg, audio, video and mask (the interface training reads through,
        shared with the memory-mapped :class:`~.eav_cache.EAVWindows`)."""
        idx = np.asarray(idx, dtype=np.int64)
        return {k: getattr(self, k)[idx] for k in ("eeg", "audio", "video", "mask")}

    def subset(self, idx: np.ndarray) -> EAVData:
        idx = np.asarray(idx)
        return EAVData(
            *(getattr(self, k)[idx] for k in EAV_ARRAY_FIELDS), summary=dict(self.summary)
        )

    @staticmethod
    def concatenate(parts: Sequence[EAVData]) -> EAVData:
        if not parts:
            raise ValueError("parts must not be empty")
        arrays = [np.concatenate([getattr(p, k) for p in parts]) for k in EAV_ARRAY_FIELDS]
        summary: dict = {"subjects": [s for p in parts for s in p.summary.get("subjects", [])]}
        for key in ("windows", "trials", "missing_audio", "missing_video"):
            summary[key] = int(sum(p.summary.get(key, 0) for p in parts))
        return EAVData(*arrays, summary=summary)


EAV_ARRAY_FIELDS = ("eeg", "audio", "video", "mask", "label", "subject", "trial", "window")


@dataclass
class SubjectPlan:
    """What one participant's folder holds, checked before anything is decoded."""

    subject: int
    eeg_path: Path
    label_path: Path
    labels: np.ndarray  # (n_trials,) class of config.task, -1 for the other task
    trials: np.ndarray  # (k,) 0-based indices of config.task trials, ascending
    files: dict[str, dict[int, Path]]  # modality -> trial -> file (config.task trials only)

    @property
    def n_windows(self) -> int:
        return int(self.trials.size)


def _describe_trial(by_task: dict[str, np.ndarray], trial: int) -> str:
    for task, lab in by_task.items():
        if lab[trial] >= 0:
            return f"{task} {EMOTIONS[lab[trial]]!r}"
    return "with no label"


def plan_subject(root: str | Path, subject: int, config: EAVConfig) -> SubjectPlan:
    """Find one participant's files and check every audio/video file name against the EEG
    labels (trial ``NNN`` in range, its task and emotion as labelled); fail naming the file."""
    paths = subject_files(root, subject)
    label_path = paths["label"]
    label = read_mat_variable(label_path, ["label"])
    try:
        by_task = {
            t: trial_labels(label, t, config.rows if t == config.task else None) for t in TASKS
        }
    except ValueError as exc:
        raise ValueError(f"{label_path}: {exc}") from exc
    labels = by_task[config.task]
    n_trials = label.shape[1]
    trials = np.flatnonzero(labels >= 0)
    if trials.size == 0:
        raise ValueError(f"{label_path}: no trial of task {config.task!r} (rows {config.rows})")
    files: dict[str, dict[int, Path]] = {}
    for modality, folder, suffix in MEDIA:
        if modality not in config.modalities:
            continue
        mdir = paths["dir"] / folder
        if not mdir.is_dir():
            raise FileNotFoundError(f"EAV {modality} folder not found: {mdir}")
        seen: dict[int, Path] = {}
        for p in sorted(mdir.iterdir()):
            if p.suffix.lower() != suffix:
                continue
            trial, task, emo = parse_trial_file_name(p.name)
            if trial >= n_trials:
                raise ValueError(
                    f"{p}: trial {trial + 1} (its leading number) but {label_path} has "
                    f"{n_trials} trials"
                )
            if trial in seen:
                raise ValueError(f"two files for trial {trial + 1}: {seen[trial]} and {p}")
            seen[trial] = p
            if config.check_file_labels and by_task[task][trial] != emo:
                raise ValueError(
                    f"{p}: file name says trial {trial + 1} is {task} {EMOTIONS[emo]!r} but "
                    f"{label_path} labels it {_describe_trial(by_task, trial)} "
                    "(check label_rows / file naming)"
                )
        files[modality] = {t: q for t, q in seen.items() if labels[t] >= 0}
    return SubjectPlan(
        subject=int(subject),
        eeg_path=paths["eeg"],
        label_path=label_path,
        labels=labels,
        trials=trials,
        files=files,
    )


@dataclass
class TrialWindows:
    """The windows of one trial; a modality is None when it is not loaded or has no file."""

    trial: int
    label: int
    eeg: np.ndarray | None  # (n_windows, 30, T) float32
    audio: np.ndarray | None  # (n_windows, n_mels, frames) float32
    video: np.ndarray | None  # (n_windows, F, 3, S, S) uint8


EEG_CHUNK_TRIALS = 16
"""Trials band-passed together: the filter state never crosses trials, so chunks give the same
result as one call, with host memory bounded by the chunk instead of the whole session."""


def iter_subject_trials(plan: SubjectPlan, config: EAVConfig) -> Iterator[TrialWindows]:
    """Decode ``plan``'s trials one at a time, in trial order: the one decoding path of the
    in-memory loader and of the on-disk cache (:mod:`.eav_cache`)."""
    seg = None
    if "eeg" in config.modalities:
        n_trials = plan.labels.size
        seg = read_mat_variable(plan.eeg_path, ["seg1", "seg"])
        if seg.ndim != 3 or seg.shape[1] != N_EEG_CHANNELS or seg.shape[2] != n_trials:
            raise ValueError(
                f"{plan.eeg_path}: seg must have shape (samples, {N_EEG_CHANNELS}, {n_trials}) "
                f"matching the label file, got {seg.shape}"
            )
    eeg_chunk: np.ndarray | None = None
    for k, t in enumerate(plan.trials):
        eeg = None
        if seg is not None:
            if k % EEG_CHUNK_TRIALS == 0:
                chunk = plan.trials[k : k + EEG_CHUNK_TRIALS]
                try:
                    eeg_chunk = preprocess_eeg(seg[:, :, chunk], config)
                except ValueError as exc:
                    raise ValueError(f"{plan.eeg_path}: {exc}") from exc
            assert eeg_chunk is not None
            eeg = eeg_chunk[k % EEG_CHUNK_TRIALS]
        audio = video = None
        if t in plan.files.get("audio", {}):
            audio = log_mel_windows(read_wav(plan.files["audio"][t], config.audio_sr), config)
        if t in plan.files.get("video", {}):
            video = read_video_windows(plan.files["video"][t], config)
        yield TrialWindows(int(t), int(plan.labels[t]), eeg, audio, video)


def subject_summary(plan: SubjectPlan, config: EAVConfig) -> dict:
    out = {
        "subjects": [plan.subject],
        "trials": int(plan.trials.size),
        "windows": int(plan.trials.size * config.n_windows),
    }
    for modality, _, _ in MEDIA:
        if modality in config.modalities:
            out[f"missing_{modality}"] = int(
                sum(t not in plan.files[modality] for t in plan.trials)
            )
    return out


# --------------------------------------------------------------------------- public loaders


def load_eav_subject(root: str | Path, subject: int, config: EAVConfig | None = None) -> EAVData:
    """All windows of ``config.task`` trials of one participant, in memory."""
    config = config or EAVConfig()
    plan = plan_subject(root, subject, config)
    nw = config.n_windows
    shapes = config.shapes
    n = plan.trials.size * nw
    eeg = np.zeros((n, *shapes["eeg"]), dtype=np.float32)
    audio = np.zeros((n, *shapes["audio"]), dtype=np.float32)
    video = np.zeros((n, *shapes["video"]), dtype=np.uint8)
    mask = np.zeros((n, 3), dtype=bool)
    for k, tw in enumerate(iter_subject_trials(plan, config)):
        sl = slice(k * nw, (k + 1) * nw)
        for col, (name, arr) in enumerate((("eeg", eeg), ("audio", audio), ("video", video))):
            value = getattr(tw, name)
            if value is not None:
                arr[sl] = value
                mask[sl, col] = True
    return EAVData(
        eeg=eeg,
        audio=audio,
        video=video,
        mask=mask,
        label=np.repeat(plan.labels[plan.trials], nw).astype(np.int64),
        subject=np.full(n, int(subject), dtype=np.int64),
        trial=np.repeat(plan.trials, nw).astype(np.int64),
        window=np.tile(np.arange(nw), plan.trials.size).astype(np.int64),
        summary=subject_summary(plan, config),
    )


def load_eav(
    root: str | Path,
    subjects: Sequence[int] | None = None,
    config: EAVConfig | None = None,
    progress: bool = False,
) -> EAVData:
    """Windows of several participants (all found under ``root`` when ``subjects`` is None),
    held in memory; ``progress`` shows a bar per participant. For paper-size inputs use the
    on-disk cache (:func:`edge_emotion.training.datasets.eav_cache.build_eav_cache`)."""
    subjects = list(subjects) if subjects is not None else list_subjects(root)
    if progress:
        from tqdm import tqdm

        subjects = tqdm(subjects, desc="EAV participants", unit="subject", leave=False)
    return EAVData.concatenate([load_eav_subject(root, s, config) for s in subjects])
