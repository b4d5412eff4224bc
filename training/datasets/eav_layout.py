"""The EAV release on disk: participants' folders, file names, label rows, MATLAB files.

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

Decoding into model inputs: :mod:`.eav_preprocess`; loading: :mod:`.eav_loader` (in memory)
and :mod:`.eav_cache` (on disk); synthetic files in this layout: :mod:`.eav_synthetic`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


MEDIA = (("audio", "Audio", ".wav"), ("video", "Video", ".mp4"))
"""(modality, folder, suffix) of the per-trial media files."""
