"""Score R-peak detectors on the MIT-BIH Arrhythmia Database (all 48 records).

Prints one row per record and the totals over all records: sensitivity (Se), positive
predictivity (PPV), F1 and the mean absolute timing error of matched peaks (one-to-one
matching within 150 ms, :mod:`edge_emotion.kernels.peak_scoring`).

    python scripts/eval_mitdb.py                       # this package, 360 Hz
    python scripts/eval_mitdb.py --fs 250 --invert      # resampled, polarity flipped
    python scripts/eval_mitdb.py --compare-neurokit     # also neurokit2 methods
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from edge_emotion.kernels.peak_scoring import PeakScore, score_peaks
from edge_emotion.kernels.rpeaks import detect_rpeaks

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mitdb"
NEUROKIT_METHODS = ("neurokit", "pantompkins1985")


@dataclass(frozen=True)
class EvalConfig:
    data: Path
    fs: float | None
    invert: bool
    records: tuple[str, ...]
    compare_neurokit: tuple[str, ...]
    quiet: bool


def load_record(path: Path, fs: float | None, invert: bool):
    """ECG, rate and reference peaks of one record, resampled to ``fs`` if given."""
    d = np.load(path)
    ecg = d["ecg"].astype(np.float64)
    fs0 = float(d["fs"])
    ref = d["rpeaks"].astype(np.int64)
    if fs is not None and fs != fs0:
        ratio = Fraction(fs / fs0).limit_denominator(1000)
        ecg = resample_poly(ecg, ratio.numerator, ratio.denominator)
        ref = np.round(ref * (fs / fs0)).astype(np.int64)
        fs0 = float(fs)
    if invert:
        ecg = -ecg
    return ecg, fs0, ref


def neurokit_peaks(ecg: np.ndarray, fs: float, method: str) -> np.ndarray:
    import neurokit2 as nk

    clean = nk.ecg_clean(ecg, sampling_rate=fs, method=method)
    _, info = nk.ecg_peaks(clean, sampling_rate=fs, method=method)
    return np.asarray(info["ECG_R_Peaks"], np.int64)


def evaluate(cfg: EvalConfig) -> dict[str, PeakScore]:
    files = sorted(cfg.data.glob("*.npz"))
    if cfg.records:
        files = [f for f in files if f.stem in cfg.records]
    if not files:
        raise SystemExit(f"no MIT-BIH records (*.npz) found in {cfg.data}")
    detectors = {"edge_emotion": lambda e, fs: detect_rpeaks(e, fs)}
    for m in cfg.compare_neurokit:
        detectors[f"nk:{m}"] = lambda e, fs, m=m: neurokit_peaks(e, fs, m)
    totals = {name: PeakScore(0, 0, 0, 0.0, 0.0) for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    if not cfg.quiet:
        print(
            f"{'record':>6} {'detector':>22} {'beats':>6} {'TP':>6} {'FP':>5} {'FN':>5}"
            f" {'Se':>7} {'PPV':>7} {'F1':>7} {'|err| ms':>8} {'err ms':>7}"
        )
    for f in files:
        ecg, fs, ref = load_record(f, cfg.fs, cfg.invert)
        for name, fn in detectors.items():
            t0 = time.perf_counter()
            det = fn(ecg, fs)
            seconds[name] += time.perf_counter() - t0
            s = score_peaks(det, ref, fs)
            totals[name] = totals[name] + s
            if not cfg.quiet:
                print(
                    f"{f.stem:>6} {name:>22} {ref.size:6d} {s.tp:6d} {s.fp:5d} {s.fn:5d}"
                    f" {s.sensitivity:7.4f} {s.ppv:7.4f} {s.f1:7.4f}"
                    f" {s.mean_abs_error_ms:8.2f} {s.mean_error_ms:7.2f}",
                    flush=True,
                )
    rate = f"{cfg.fs:g} Hz (resampled)" if cfg.fs else "360 Hz"
    print(f"\nTOTAL over {len(files)} records at {rate}{', inverted' if cfg.invert else ''}:")
    for name, s in totals.items():
        print(
            f"  {name:>22}: beats {s.tp + s.fn}  TP {s.tp}  FP {s.fp}  FN {s.fn}  "
            f"Se {s.sensitivity:.4f}  PPV {s.ppv:.4f}  F1 {s.f1:.4f}  "
            f"mean |err| {s.mean_abs_error_ms:.2f} ms  mean err {s.mean_error_ms:+.2f} ms  "
            f"({seconds[name]:.1f} s)"
        )
    return totals


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of <record>.npz")
    ap.add_argument("--fs", type=float, default=None, help="resample to this rate (Hz) first")
    ap.add_argument("--invert", action="store_true", help="flip the ECG's polarity")
    ap.add_argument("--records", nargs="*", default=(), help="only these records (e.g. 105 203)")
    ap.add_argument(
        "--compare-neurokit",
        nargs="?",
        const=",".join(NEUROKIT_METHODS),
        default="",
        metavar="METHODS",
        help=f"also score neurokit2 methods (default: {','.join(NEUROKIT_METHODS)})",
    )
    ap.add_argument("--quiet", action="store_true", help="totals only")
    a = ap.parse_args(argv)
    methods = tuple(m for m in a.compare_neurokit.split(",") if m)
    evaluate(EvalConfig(a.data, a.fs, a.invert, tuple(a.records), methods, a.quiet))


if __name__ == "__main__":
    main()
