"""Loader for the EAV dataset layout (EEG + audio + video, 5 emotions).

EAV: Lee et al., "EAV: EEG-Audio-Video Dataset for Emotion Recognition in Conversational
Contexts", Scientific Data 11 (2024), doi:10.1038/s41597-024-03838-4. 42 participants, 200
trials each (20 s, alternating listening / speaking), five emotions: neutral, sadness, anger,
happiness, calmness.

Layout read here, as the release unpacks (one folder per participant)::

    <root>/subject1/EEG/subject1_eeg.mat          variable ``seg1`` (or ``seg``):
                                                  (samples, 30 channels, trials), 500 Hz
    <root>/subject1/EEG/subject1_eeg_label.mat    variable ``label``: (10, trials) one-hot
    <root>/subject1/Audio/*.wav                   speaking trials only
    <root>/subject1/Video/*.mp4                   every trial, 30 fps, 640 x 480

The release names its folders ``subject1`` ... ``subject42``; the reference code
(``nubcico/EAV``, ``Dataload_eeg.py``) formats ``subject{:02d}``. Both spellings are accepted,
for the folder and for the ``.mat`` files in it; the names that exist on disk are used.

Both MATLAB v5 files (``scipy.io.loadmat``) and v7.3 HDF5 files (``h5py``; MATLAB stores them
column-major, so the axes come back reversed and are transposed here) are read.

**Label rows.** The 10 label rows are 5 emotions x 2 tasks, interleaved:
``row = 2 * emotion_index + task_index`` with task 0 = listening, 1 = speaking (the public
reference code selects rows 1, 3, 5, 7, 9 as one task). Each trial's class is the argmax over
*the 5 rows of the task used* — never over all 10 rows, whose argmax (0..9) mixes the task into
the class index. ``label_rows`` in :class:`EAVConfig` overrides the mapping should a release
differ; the file-name cross-check below then fails loudly rather than mislabelling silently.

**File names** (the release's, read by the reference loaders as ``name.split("_")[4]`` for
the emotion): ``NNN_Trial_TT_<Task>_<Emotion>[_Aud].<ext>``, e.g.
``002_Trial_02_Speaking_Neutral_Aud.wav`` or ``001_Trial_01_Listening_Neutral.mp4``.
``NNN`` (001-200) is the trial: the 1-based index into the EEG trial axis. ``TT`` is *not* a
trial index (it repeats within a participant: ``002``, ``004`` and ``006`` are all
``_Trial_02``) and is ignored. ``Task`` is ``Listening`` or ``Speaking``, ``Emotion`` one of
:data:`EMOTIONS` (case-insensitive). Every file's ``NNN``, task and emotion are checked
against the EEG label of trial ``NNN``; a disagreement stops loading with the file's path.

Each 20-s trial is cut into non-overlapping 5-s windows (the paper's segmentation); every window
is one sample carrying EEG ``(channels, window_s * eeg_target_fs)``, a log-mel spectrogram
``(n_mels, frames)`` (librosa) and ``frames_per_window`` RGB frames ``(F, 3, H, W)`` uint8.
A modality with no file for a trial (audio for listening trials) is zero-filled and flagged
absent in ``mask``; the model's fusion honours that mask.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

EMOTIONS: tuple[str, ...] = ("neutral", "sadness", "anger", "happiness", "calmness")
"""Class order (index = class id), as in the paper and the reference loaders."""
TASKS: tuple[str, ...] = ("listening", "speaking")
MODALITIES: tuple[str, ...] = ("eeg", "audio", "video")
N_EEG_CHANNELS = 30

# NNN_Trial_TT_<Task>_<Emotion>[_<suffix>]: the leading number is the trial, TT is not.
_FILE_RE = re.compile(
    r"(?P<nnn>\d+)_trial_(?P<tt>\d+)_(?P<task>[a-z]+)_(?P<emotion>[a-z]+)(?:_[a-z0-9]+)?",
    re.IGNORECASE,
)


def default_label_rows(task: str) -> tuple[int, ...]:
    """Rows of the (10, trials) label matrix that hold the 5 emotions of ``task``, in
    :data:`EMOTIONS` order (``row = 2 * emotion + task_index``)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    t = TASKS.index(task)
    return tuple(2 * e + t for e in range(len(EMOTIONS)))


@dataclass(frozen=True)
class EAVConfig:
    """How EAV recordings become model inputs.

    eeg_fs: sampling rate of the stored EEG (Hz); eeg_target_fs: rate after polyphase
    resampling (Hz, the paper's 100 Hz); eeg_band: zero-phase Butterworth band-pass (Hz);
    trial_s / window_s: trial and window length (s); audio_sr: audio rate after resampling
    (Hz); n_mels, mel_win_ms, mel_hop_ms: log-mel parameters; frames_per_window, image_size:
    video frames sampled evenly per window and their square size (px); video_crop: the square
    cut from each frame before resizing, ``(centre_x, centre_y, side)`` with the centre as
    fractions of width and height and the side as a fraction of the shorter side (default:
    the centred full-height square). The release has no face boxes, and the reference's
    face detector (MTCNN) needs downloaded weights, so the default is the centred square: it
    keeps the face's proportions; set a smaller box once you have checked where faces sit.
    """

    task: str = "speaking"
    modalities: tuple[str, ...] = MODALITIES
    eeg_fs: float = 500.0
    eeg_target_fs: float = 100.0
    eeg_band: tuple[float, float] = (0.5, 45.0)
    trial_s: float = 20.0
    window_s: float = 5.0
    audio_sr: int = 16000
    n_mels: int = 64
    mel_win_ms: float = 25.0
    mel_hop_ms: float = 20.0
    frames_per_window: int = 5
    image_size: int = 64
    video_crop: tuple[float, float, float] = (0.5, 0.5, 1.0)
    label_rows: tuple[int, ...] | None = None
    check_file_labels: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {bad}")
        if self.eeg_fs <= 0 or self.eeg_target_fs <= 0 or self.eeg_target_fs > self.eeg_fs:
            raise ValueError("eeg_fs and eeg_target_fs must be > 0 with eeg_target_fs <= eeg_fs")
        lo, hi = self.eeg_band
        if not 0 < lo < hi < self.eeg_target_fs / 2:
            raise ValueError(
                f"eeg_band must satisfy 0 < low < high < eeg_target_fs/2, got {lo, hi}"
            )
        if self.window_s <= 0 or self.trial_s < self.window_s:
            raise ValueError("window_s must be > 0 and <= trial_s")
        if self.n_windows * self.window_s > self.trial_s + 1e-9:
            raise ValueError("trial_s / window_s windows do not fit")
        for name in ("audio_sr", "n_mels", "frames_per_window", "image_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0")
        if len(self.video_crop) != 3:
            raise ValueError(
                f"video_crop must be (centre_x, centre_y, side), got {self.video_crop}"
            )
        cx, cy, side = self.video_crop
        if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < side <= 1):
            raise ValueError(
                "video_crop must be (centre_x, centre_y, side) with centre in [0, 1] and side "
                f"in (0, 1], got {self.video_crop}"
            )
        if self.label_rows is not None and (
            len(self.label_rows) != len(EMOTIONS) or len(set(self.label_rows)) != len(EMOTIONS)
        ):
            raise ValueError(f"label_rows must list {len(EMOTIONS)} distinct rows")

    @property
    def n_windows(self) -> int:
        return int(self.trial_s / self.window_s + 1e-9)

    @property
    def rows(self) -> tuple[int, ...]:
        return self.label_rows if self.label_rows is not None else default_label_rows(self.task)

    @property
    def eeg_samples(self) -> int:
        return round(self.window_s * self.eeg_target_fs)

    @property
    def mel_hop(self) -> int:
        return round(self.audio_sr * self.mel_hop_ms / 1000.0)

    @property
    def mel_frames(self) -> int:
        return round(self.window_s * self.audio_sr) // self.mel_hop + 1

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample input shapes (no batch axis)."""
        return {
            "eeg": (N_EEG_CHANNELS, self.eeg_samples),
            "audio": (self.n_mels, self.mel_frames),
            "video": (self.frames_per_window, 3, self.image_size, self.image_size),
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EAVConfig:
        d = dict(d)
        for k in ("modalities", "eeg_band", "label_rows", "video_crop"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


def paper_data_config(**overrides) -> EAVConfig:
    """Input sizes of the paper's encoders: 128-mel spectrograms with a 10-ms hop (AST),
    25 frames of 224 px per 5-s window (every 6th frame at 30 fps, ViT-B/16)."""
    base = {
        "n_mels": 128,
        "mel_win_ms": 25.0,
        "mel_hop_ms": 10.0,
        "frames_per_window": 25,
        "image_size": 224,
    }
    return EAVConfig(**{**base, **overrides})


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


# --------------------------------------------------------------------------- file access


def _subject_names(subject: int) -> tuple[str, ...]:
    """Spellings of a participant's folder: the release's ``subject1``, the reference code's
    ``subject01`` (identical from 10 on)."""
    n = int(subject)
    return tuple(dict.fromkeys((f"subject{n}", f"subject{n:02d}")))


def _one_existing(candidates: Sequence[Path], what: str) -> Path:
    found = [p for p in candidates if p.exists()]
    if not found:
        tried = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(f"EAV {what} not found (looked for {tried})")
    if len(found) > 1:
        raise ValueError(f"EAV {what} is ambiguous: both {found[0]} and {found[1]} exist")
    return found[0]


def subject_dir(root: str | Path, subject: int) -> Path:
    """The participant's folder as it exists: ``subject1`` (release) or ``subject01``."""
    return _one_existing(
        [Path(root) / n for n in _subject_names(subject)],
        f"subject folder for participant {subject}",
    )


def subject_files(root: str | Path, subject: int) -> dict[str, Path]:
    """``{"dir", "eeg", "label"}`` paths of one participant, each in the spelling on disk
    (``subject1_eeg.mat`` or ``subject01_eeg.mat``, whatever the folder is called)."""
    sdir = subject_dir(root, subject)
    eeg_dir = sdir / "EEG"
    names = _subject_names(subject)
    return {
        "dir": sdir,
        "eeg": _one_existing([eeg_dir / f"{n}_eeg.mat" for n in names], "EEG file"),
        "label": _one_existing([eeg_dir / f"{n}_eeg_label.mat" for n in names], "label file"),
    }


def list_subjects(root: str | Path) -> list[int]:
    """Participant numbers found under ``root`` (folders ``subject1`` or ``subject01``)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"EAV root folder not found: {root}")
    out: dict[int, str] = {}
    for p in sorted(root.iterdir()):
        m = re.fullmatch(r"subject(\d+)", p.name)
        if m and p.is_dir():
            n = int(m.group(1))
            if n in out:
                raise ValueError(
                    f"EAV participant {n} has two folders under {root}: {out[n]} and {p.name}"
                )
            out[n] = p.name
    if not out:
        raise FileNotFoundError(f"no subject<N> folders (subject1 or subject01) under {root}")
    return sorted(out)


def read_mat_variable(path: str | Path, names: Sequence[str]) -> np.ndarray:
    """The first of ``names`` found in a MATLAB file, v5 (scipy) or v7.3 (HDF5, h5py).

    v7.3 arrays are stored column-major, so h5py returns them with reversed axes; they are
    transposed back to MATLAB's axis order here.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATLAB file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF"):
        return _read_h5_variable(path, names)
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError:  # v7.3 whose header was not at offset 0 (user block)
        return _read_h5_variable(path, names)
    except Exception as exc:
        raise ValueError(f"cannot read MATLAB file {path}: {exc}") from exc
    for n in names:
        if n in mat:
            return np.asarray(mat[n])
    found = sorted(k for k in mat if not k.startswith("__"))
    raise ValueError(f"{path}: none of the variables {list(names)} found (has {found})")


def _read_h5_variable(path: Path, names: Sequence[str]) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for n in names:
                if n in f:
                    arr = np.asarray(f[n][()])
                    return arr.T if arr.ndim > 1 else arr
            found = sorted(f.keys())
    except OSError as exc:
        raise ValueError(f"cannot read MATLAB v7.3 (HDF5) file {path}: {exc}") from exc
    raise ValueError(f"{path}: none of the variables {list(names)} found (has {found})")


def parse_trial_file_name(name: str) -> tuple[int, str, int]:
    """``(trial_index (0-based), task, emotion_index)`` from an EAV audio/video file name;
    the trial is the leading ``NNN``, not the ``Trial_TT`` field (see the module docstring).

    >>> parse_trial_file_name("004_Trial_02_Speaking_Anger_Aud.wav")
    (3, 'speaking', 2)
    """
    stem = Path(name).name.rsplit(".", 1)[0]
    m = _FILE_RE.fullmatch(stem)
    if not m:
        raise ValueError(
            f"file name {name!r} does not follow the EAV naming "
            "NNN_Trial_TT_<Task>_<Emotion>[_Aud].<ext> (e.g. 002_Trial_02_Speaking_Neutral_Aud.wav)"
        )
    trial = int(m["nnn"]) - 1
    if trial < 0:
        raise ValueError(f"file name {name!r}: trial numbers (NNN) start at 001")
    task, emotion = m["task"].lower(), m["emotion"].lower()
    if task not in TASKS:
        raise ValueError(f"file name {name!r}: task {m['task']!r} is not one of {TASKS}")
    if emotion not in EMOTIONS:
        raise ValueError(f"file name {name!r}: emotion {m['emotion']!r} is not one of {EMOTIONS}")
    return trial, task, EMOTIONS.index(emotion)


def trial_labels(label: np.ndarray, task: str, rows: Sequence[int] | None = None) -> np.ndarray:
    """Per-trial class index for ``task`` from the (10, trials) one-hot label matrix.

    Returns int64 (trials,) with -1 for trials of the other task. The class is the argmax over
    the 5 rows of ``task`` only (see the module docstring for why not over all 10 rows).
    """
    label = np.asarray(label)
    if label.ndim != 2 or label.shape[0] != 2 * len(EMOTIONS):
        raise ValueError(f"label must have shape (10, trials), got {label.shape}")
    if not np.all(np.isfinite(label)):
        raise ValueError("label contains NaN or inf")
    rows = tuple(rows) if rows is not None else default_label_rows(task)
    task_block = label[list(rows), :]
    in_task = task_block.max(axis=0) > 0
    out = np.full(label.shape[1], -1, dtype=np.int64)
    out[in_task] = np.argmax(task_block[:, in_task], axis=0)
    return out


# --------------------------------------------------------------------------- per modality


def preprocess_eeg(seg: np.ndarray, config: EAVConfig) -> np.ndarray:
    """(samples, channels, trials) raw EEG -> (trials, n_windows, channels, T) float32.

    Polyphase resampling to ``eeg_target_fs`` (scipy.signal.resample_poly, its anti-alias
    FIR), zero-phase 4th-order Butterworth band-pass, 5-s windows, per-window per-channel
    z-score (no statistics cross windows, so no leakage across splits).
    """
    from fractions import Fraction

    from scipy import signal

    x = np.asarray(seg, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != N_EEG_CHANNELS:
        raise ValueError(
            f"EEG seg must have shape (samples, {N_EEG_CHANNELS}, trials), got {x.shape}"
        )
    need = round(config.trial_s * config.eeg_fs)
    if x.shape[0] < need:
        raise ValueError(
            f"EEG seg has {x.shape[0]} samples per trial, expected >= {need} "
            f"(trial_s={config.trial_s} s at eeg_fs={config.eeg_fs} Hz)"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("EEG seg contains NaN or inf")
    x = np.transpose(x[:need], (2, 1, 0))  # trials, channels, samples
    frac = Fraction(config.eeg_target_fs / config.eeg_fs).limit_denominator(1000)
    if frac != 1:
        x = signal.resample_poly(x, frac.numerator, frac.denominator, axis=-1)
    sos = signal.butter(4, config.eeg_band, btype="bandpass", fs=config.eeg_target_fs, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=-1)
    t = config.eeg_samples
    w = config.n_windows
    x = x[..., : w * t].reshape(x.shape[0], x.shape[1], w, t).transpose(0, 2, 1, 3)
    x = (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + 1e-6)
    return x.astype(np.float32)


def read_wav(path: str | Path, target_sr: int) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] resampled to ``target_sr`` Hz."""
    import scipy.io.wavfile
    from scipy import signal

    path = Path(path)
    try:
        sr, data = scipy.io.wavfile.read(str(path))
    except Exception as exc:
        raise ValueError(f"cannot read WAV file {path}: {exc}") from exc
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size == 0:
        raise ValueError(f"WAV file {path} holds no samples")
    if sr != target_sr:
        from math import gcd

        g = gcd(int(sr), int(target_sr))
        data = signal.resample_poly(data, target_sr // g, sr // g).astype(np.float32)
    return data


def log_mel_windows(wave: np.ndarray, config: EAVConfig) -> np.ndarray:
    """(n_windows, n_mels, frames) float32 log-mel (dB, librosa) per 5-s window, each
    standardised to zero mean and unit variance. Short audio is zero-padded."""
    import librosa

    n = round(config.window_s * config.audio_sr)
    total = n * config.n_windows
    if wave.shape[0] < total:
        wave = np.pad(wave, (0, total - wave.shape[0]))
    out = np.empty((config.n_windows, config.n_mels, config.mel_frames), dtype=np.float32)
    n_fft = round(config.audio_sr * config.mel_win_ms / 1000.0)
    for w in range(config.n_windows):
        seg = wave[w * n : (w + 1) * n]
        mel = librosa.feature.melspectrogram(
            y=seg,
            sr=config.audio_sr,
            n_fft=n_fft,
            hop_length=config.mel_hop,
            n_mels=config.n_mels,
            power=2.0,
        )
        db = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
        out[w] = (db - db.mean()) / (db.std() + 1e-6)
    return out


def crop_box(width: int, height: int, crop: Sequence[float]) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` of the square ``crop = (centre_x, centre_y, side)``:
    centre as fractions of the frame's width and height, side as a fraction of its shorter
    side; moved inside the frame where it would stick out."""
    cx, cy, side = (float(v) for v in crop)
    n = max(1, round(side * min(width, height)))
    x0 = min(max(round(cx * width - n / 2), 0), width - n)
    y0 = min(max(round(cy * height - n / 2), 0), height - n)
    return x0, y0, x0 + n, y0 + n


def read_video_windows(path: str | Path, config: EAVConfig) -> np.ndarray:
    """(n_windows, F, 3, S, S) uint8 RGB frames, F evenly spaced frames per window (PyAV).

    Each frame is cropped to the square ``config.video_crop`` (default: the centred
    full-height square, 480 x 480 of the release's 640 x 480) and then resized with area
    averaging, so faces keep their proportions instead of being squashed 4:3.
    """
    import av

    path = Path(path)
    size = config.image_size
    f = config.frames_per_window
    out = np.zeros((config.n_windows, f, 3, size, size), dtype=np.uint8)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 30)
            times = (
                np.arange(config.n_windows)[:, None] * config.window_s
                + (np.arange(f)[None, :] + 0.5) * config.window_s / f
            )
            wanted = {int(i): k for k, i in enumerate(np.floor(times.ravel() * fps).astype(int))}
            last = max(wanted)
            got = 0
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    k = wanted[i]
                    x0, y0, x1, y1 = crop_box(frame.width, frame.height, config.video_crop)
                    img = frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
                    small = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    small = small.reformat(width=size, height=size, interpolation="AREA")
                    out[k // f, k % f] = small.to_ndarray().transpose(2, 0, 1)
                    got += 1
                if i >= last:
                    break
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot decode video file {path}: {exc}") from exc
    if got < len(wanted):
        raise ValueError(
            f"video file {path} is too short: {got} of {len(wanted)} sampled frames found "
            f"(need {config.trial_s} s at {fps:g} fps)"
        )
    return out


MEDIA = (("audio", "Audio", ".wav"), ("video", "Video", ".mp4"))
"""(modality, folder, suffix) of the per-trial media files."""


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


def _summary(plan: SubjectPlan, config: EAVConfig) -> dict:
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
        summary=_summary(plan, config),
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
