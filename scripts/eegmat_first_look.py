"""A first look at PhysioNet eegmat (mental arithmetic) through the recording readers.

Per subject, rest (``SubjectNN_1.edf``, ~180 s) against serial subtraction (``_2``, 60 s):

- mean heart rate: R-peaks (:func:`edge_emotion.kernels.detect_rpeaks`) on the ECG lead at
  the file's 500 Hz and at the model's 128 Hz (through :func:`model_rate_signals`, the
  runtime's resampler), HR from :func:`edge_emotion.kernels.hrv_time` (RR intervals
  corrected with the local median);
- occipital alpha: band power 8–13 Hz of O1 and O2 at 128 Hz from
  :func:`edge_emotion.kernels.band_de` (power = exp(2 DE) / (2 pi e), µV²), mean of the two;
- what is left above 30 Hz (the authors state a 30 Hz filter; the EDF header says LP 45 Hz):
  power 31–45 Hz over power 14–30 Hz of the 19 EEG channels at 500 Hz (band_de; median over
  channels), with Welch's PSD as a cross-check, and the same per Hz of band.

Run: ``.venv/bin/python scripts/eegmat_first_look.py [--data ../shared/data/eegmat]
[--json out.json]``. Prints a table per subject and a paired summary (Wilcoxon signed-rank).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import signal, stats

from edge_emotion.kernels import band_de, clean_rr, detect_rpeaks, hrv_time, rr_intervals
from edge_emotion.training.recordings import model_rate_signals, read_recording

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "eegmat"
MODEL_FS = 128.0
ALPHA = (("alpha", 8.0, 13.0),)
HIGH = (("beta", 14.0, 30.0), ("high", 31.0, 45.0))


def _power(de: np.ndarray) -> np.ndarray:
    """Band power (variance, µV²) from differential entropy (nats)."""
    return np.exp(2.0 * de) / (2.0 * math.pi * math.e)


def _heart_rate(ecg: np.ndarray, fs: float) -> tuple[float, int, float]:
    """(HR in bpm, beats, share of RR intervals flagged as artefacts)."""
    peaks = detect_rpeaks(ecg, fs)
    flagged = clean_rr(rr_intervals(peaks, fs), method="local_median").artefacts
    hr = hrv_time(peaks, fs, correction="local_median")["HR"]
    return hr, int(peaks.size), float(flagged.mean())


def look(path: Path) -> dict:
    """The numbers of one file."""
    rec = read_recording(path)
    native_ecg = rec.ecg()
    hr_native, beats, _ = _heart_rate(native_ecg.data[0], native_ecg.sampling_rate)
    sig = model_rate_signals(rec, ["O1", "O2"], True, MODEL_FS, MODEL_FS)
    hr_model, _, flagged = _heart_rate(sig.ecg, MODEL_FS)
    alpha = float(_power(band_de(sig.eeg, MODEL_FS, ALPHA)[:, 0]).mean())
    eeg = rec.eeg()
    fs = eeg.sampling_rate
    p = _power(band_de(eeg.data, fs, HIGH))  # (channels, 2)
    ratio = float(np.median(p[:, 1] / p[:, 0]))
    f, psd = signal.welch(eeg.data, fs=fs, nperseg=int(4 * fs), axis=1)
    beta = np.trapezoid(psd[:, (f >= 14) & (f <= 30)], f[(f >= 14) & (f <= 30)], axis=1)
    high = np.trapezoid(psd[:, (f >= 31) & (f <= 45)], f[(f >= 31) & (f <= 45)], axis=1)
    above = np.trapezoid(psd[:, (f >= 46) & (f <= 70)], f[(f >= 46) & (f <= 70)], axis=1)
    return {
        "file": path.name,
        "duration_s": rec.end_s - rec.start_s,
        "beats": beats,
        "hr_bpm_500hz": hr_native,
        "hr_bpm_128hz": hr_model,
        "rr_flagged": flagged,
        "alpha_o1o2_uv2": alpha,
        "high_over_beta_de": ratio,
        "high_over_beta_welch": float(np.median(high / beta)),
        "high_over_beta_per_hz": float(np.median((high / 14.0) / (beta / 16.0))),
        "46_70_over_beta_welch": float(np.median(above / beta)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="eegmat folder")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    subjects = sorted({p.name.split("_")[0] for p in args.data.glob("Subject*_1.edf")})
    if not subjects:
        print(f"error: no SubjectNN_1.edf under {args.data}", file=sys.stderr)
        return 2
    rows = []
    print(
        f"{'subject':9} {'HR rest':>7} {'HR task':>7} {'(500Hz)':>15} "
        f"{'alpha rest':>10} {'alpha task':>10} {'a task/rest':>11} "
        f"{'31-45/14-30 rest':>16} {'task':>6} {'RR flagged rest/task':>20}"
    )
    for subject in subjects:
        rest, task = (look(args.data / f"{subject}_{k}.edf") for k in (1, 2))
        rows.append({"subject": subject, "rest": rest, "task": task})
        print(
            f"{subject:9} {rest['hr_bpm_128hz']:7.1f} {task['hr_bpm_128hz']:7.1f} "
            f"({rest['hr_bpm_500hz']:5.1f} {task['hr_bpm_500hz']:5.1f}) "
            f"{rest['alpha_o1o2_uv2']:10.2f} {task['alpha_o1o2_uv2']:10.2f} "
            f"{task['alpha_o1o2_uv2'] / rest['alpha_o1o2_uv2']:11.2f} "
            f"{rest['high_over_beta_de']:16.3f} {task['high_over_beta_de']:6.3f} "
            f"{100 * rest['rr_flagged']:9.0f}% {100 * task['rr_flagged']:8.0f}%",
            flush=True,
        )

    def col(state: str, key: str) -> np.ndarray:
        return np.array([r[state][key] for r in rows])

    hr_r, hr_t = col("rest", "hr_bpm_128hz"), col("task", "hr_bpm_128hz")
    al_r, al_t = col("rest", "alpha_o1o2_uv2"), col("task", "alpha_o1o2_uv2")
    n = len(rows)
    print(f"\n{n} subjects")
    print(
        f"HR (128 Hz): task > rest in {int((hr_t > hr_r).sum())}/{n}; median change "
        f"{np.median(hr_t - hr_r):+.1f} bpm; Wilcoxon p = {stats.wilcoxon(hr_t, hr_r).pvalue:.2g}"
    )
    diff = np.abs(col("rest", "hr_bpm_128hz") - col("rest", "hr_bpm_500hz"))
    diff = np.concatenate((diff, np.abs(hr_t - col("task", "hr_bpm_500hz"))))
    print(f"HR at 128 Hz vs 500 Hz: largest difference {diff.max():.2f} bpm")
    clean = (col("rest", "rr_flagged") < 0.05) & (col("task", "rr_flagged") < 0.05)
    print(
        f"  subjects whose ECG has < 5% RR intervals flagged in both files: {int(clean.sum())}; "
        f"task > rest in {int((hr_t > hr_r)[clean].sum())}/{int(clean.sum())}"
    )
    print(
        f"alpha O1/O2: task < rest in {int((al_t < al_r).sum())}/{n}; median task/rest "
        f"{np.median(al_t / al_r):.2f}; Wilcoxon p = {stats.wilcoxon(al_t, al_r).pvalue:.2g}"
    )
    for key, label in (
        ("high_over_beta_de", "31-45 / 14-30 Hz power (band_de)"),
        ("high_over_beta_welch", "31-45 / 14-30 Hz power (Welch)"),
        ("high_over_beta_per_hz", "31-45 / 14-30 Hz power per Hz (Welch)"),
        ("46_70_over_beta_welch", "46-70 / 14-30 Hz power (Welch)"),
    ):
        both = np.concatenate((col("rest", key), col("task", key)))
        print(
            f"{label}: median {np.median(both):.3f} (range {both.min():.3f}-{both.max():.3f}) "
            f"over {both.size} files"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
