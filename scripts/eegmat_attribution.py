"""What the shipped eegmat bundles and the demo recording say about their data, and the
writer of the demo recording (used by ``scripts/make_shipped_bundles.py``).

The demo subject is fixed by a rule stated before any model saw it: the first subject
(in number order) whose counting the authors rate good (``subject-info.csv``: count
quality 1) and whose ECG is usable in both files (not Subject02, 13 or 20): Subject01.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEMO_SUBJECT = "Subject01"
CITATION = (
    "Zyma I, Tukaev S, Seleznov I, Kiyono K, Popov A, Chernykh M, Shpenkov O. "
    "Electroencephalograms during Mental Arithmetic Task Performance. Data 2019, 4(1):14. "
    "https://doi.org/10.3390/data4010014"
)
PHYSIONET = (
    "Goldberger A, Amaral L, Glass L, Hausdorff J, Ivanov PC, Mark R, Mietus JE, Moody GB, "
    "Peng CK, Stanley HE. PhysioBank, PhysioToolkit, and PhysioNet: Components of a new "
    "research resource for complex physiologic signals. Circulation 2000, 101(23):e215-e220."
)
ABOUT_DATASET = {
    "dataset": "EEG During Mental Arithmetic Tasks (PhysioNet eegmat 1.0.0), "
    "https://physionet.org/content/eegmat/1.0.0/, subjects 00-23",
    "licence": "Open Data Commons Attribution License v1.0 (ODC-By 1.0)",
    "attribution": [CITATION, PHYSIONET],
    "target": "arousal: 0 = rest (the recording before the task), 1 = mental arithmetic "
    "(serial subtraction). A mental-load state, not an emotion.",
    "labels": "scripts/eegmat_labels.csv: _1 files rest (0), _2 files arithmetic (1)",
}

# The demo recording: the demo subject's last REST_S of rest, then TASK_S of arithmetic.
DEMO_FS = 125.0  # a Cyton+Daisy's rate, the bundles' model rate
DEMO_REST_S = 120.0  # 60 s of session baseline (the device abstains), then 60 s classified
DEMO_TASK_S = 60.0
DEMO_NAME = "eegmat_subject01"
CYTON_POSITIONS = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")


def _int16(x: np.ndarray) -> tuple[np.ndarray, float]:
    """float µV -> int16 and the µV per count that restores them (peak at 32000 counts)."""
    scale = float(np.max(np.abs(x))) / 32000.0 or 1.0
    return np.round(x / scale).astype(np.int16), scale


FLAT_RUN_S = 0.25  # every channel constant this long: no signal (the EDF's padding)
EDGE_S = 5.0  # flat runs this close to a file's end (rest) or start (task) are cut off


def trim_flat_edges(x: np.ndarray, fs: float, path: Path) -> np.ndarray:
    """``x`` without the flat stretches at its edges (the rest files end with ~2 s of
    constant samples, which the device rightly reads as leads off); a flat stretch
    elsewhere is an error naming the file."""
    moving = np.any(np.diff(x, axis=1) != 0, axis=0)
    still = np.flatnonzero(~moving)
    runs = np.split(still, np.flatnonzero(np.diff(still) != 1) + 1) if still.size else []
    runs = [(r[0], r[-1] + 2) for r in runs if r.size + 1 >= FLAT_RUN_S * fs]
    edge = round(EDGE_S * fs)
    start = max([e for s, e in runs if s < edge], default=0)
    end = min([s for s, e in runs if e > x.shape[1] - edge], default=x.shape[1])
    inside = [(s, e) for s, e in runs if s >= start and e <= end and (s, e) != (start, end)]
    if any(s > start or e < end for s, e in inside):
        raise ValueError(f"{path}: flat stretch inside the recording at {inside[0][0] / fs:.1f} s")
    return x[:, start:end]


def write_demo_npz(data: Path, out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<DEMO_NAME>.npz`` and ``ATTRIBUTION.md``; returns the paths."""
    from edge_emotion.training.recordings import read_recording
    from edge_emotion.training.recordings.model_rate import resample_aligned

    parts = []
    for suffix, keep_s, from_end in (("_1", DEMO_REST_S, True), ("_2", DEMO_TASK_S, False)):
        path = Path(data) / f"{DEMO_SUBJECT}{suffix}.edf"
        rec = read_recording(path)
        eeg, ecg = rec.eeg(CYTON_POSITIONS), rec.ecg()
        if eeg.sampling_rate != ecg.sampling_rate:
            raise ValueError(f"{path}: EEG and ECG rates differ")
        x = np.vstack([eeg.data, ecg.data])
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{path}: missing samples; the demo needs a complete recording")
        x = trim_flat_edges(x, eeg.sampling_rate, path)
        x = resample_aligned(x, eeg.sampling_rate, DEMO_FS)
        n = round(keep_s * DEMO_FS)
        if x.shape[1] < n:
            raise ValueError(f"{path}: {x.shape[1] / DEMO_FS:.1f} s, shorter than {keep_s:g} s")
        parts.append(x[:, -n:] if from_end else x[:, :n])
    x = np.hstack(parts)
    eeg_i16, eeg_scale = _int16(x[:8])
    ecg_i16, ecg_scale = _int16(x[8:])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / f"{DEMO_NAME}.npz"
    np.savez_compressed(
        npz,
        eeg=eeg_i16,
        eeg_uv_per_count=np.float64(eeg_scale),
        ecg=ecg_i16,
        ecg_uv_per_count=np.float64(ecg_scale),
        fs=np.float64(DEMO_FS),
        eeg_channels=np.array(CYTON_POSITIONS),
        states=np.array(["rest", "arithmetic"]),
        state_starts_s=np.array([0.0, DEMO_REST_S]),
        subject=np.array(DEMO_SUBJECT),
    )
    readme = out_dir / "ATTRIBUTION.md"
    readme.write_text(_attribution_text())
    return [npz, readme]


def _attribution_text() -> str:
    return f"""# The demo recording: PhysioNet eegmat, {DEMO_SUBJECT}

`{DEMO_NAME}.npz` is derived from PhysioNet's "EEG During Mental Arithmetic Tasks"
(eegmat 1.0.0, https://physionet.org/content/eegmat/1.0.0/), files `{DEMO_SUBJECT}_1.edf`
(rest) and `{DEMO_SUBJECT}_2.edf` (serial subtraction), under the Open Data Commons
Attribution License v1.0 (ODC-By 1.0, https://opendatacommons.org/licenses/by/1-0/).
Please cite:

- {CITATION}
- {PHYSIONET}

Changes made here (by `scripts/make_shipped_bundles.py`): the last {DEMO_REST_S:g} s of
rest followed by the first {DEMO_TASK_S:g} s of arithmetic (constant stretches at the
files' edges left out first: the rest file ends with about 2 s of them); 8 EEG electrodes of the 19
(the OpenBCI Cyton's positions {", ".join(CYTON_POSITIONS)}; the files' T5/T6 are P7/P8)
and the ECG lead; resampled from 500 Hz to {DEMO_FS:g} Hz (edge_emotion's resampler);
stored as int16 with a µV-per-count scale per modality. {DEMO_SUBJECT} was held out of the
training of every bundle shipped with edge_emotion.

"Arousal" in this demo means rest (0) vs mental arithmetic (1), a mental-load state,
not an emotion.
"""
