"""Kernels demo: ``python -m edge_emotion.kernels [--ecg FILE.npz] [--eeg FILE.txt]``.

ECG: an MIT-BIH record (``../shared/data/mitdb/100.npz`` beside the checkout by default)
-> R-peaks (scored against the cardiologists' annotations) -> HRV time metrics and the
model's zero-embedded HRV series. EEG: the OpenBCI GUI recording
(``../shared/data/openbci/...txt``) -> band differential entropy per channel, and alpha
DE over time (it rises with the eyes closed). Then both streams go through the device's
:class:`~edge_emotion.kernels.features.StreamingFeatureExtractor` hop by hop.

Without the recordings it runs on generated signals (the Gaussian-wave ECG of
:mod:`edge_emotion.synthetic` at 68 bpm with respiratory sinus arrhythmia, and 1/f EEG
with an alpha burst), and says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_ECG = SHARED / "mitdb" / "100.npz"
DEFAULT_EEG = SHARED / "openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
CYTON_MONTAGE = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")


# ---------------------------------------------------------------------------- signals


def synthetic_eeg(duration_s: float = 60.0, fs: float = 250.0, n_ch: int = 8, seed: int = 1):
    """1/f EEG (µV) with a 10-Hz alpha rhythm from 30 s on (as if eyes closed)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    spec = np.fft.rfft(rng.standard_normal((n_ch, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / fs)
    spec /= np.maximum(f, 1.0) ** 0.9
    x = np.fft.irfft(spec, n, axis=1) * 40.0
    t = np.arange(n) / fs
    alpha = 25.0 * np.sin(2 * np.pi * 10.0 * t) * (t >= 30.0)
    return x + alpha, fs


def read_openbci(path: Path):
    """The 8 EXG channels (µV) and rate of an OpenBCI GUI v6 text recording."""
    try:
        from edge_emotion.openbci import read_openbci_gui_txt
    except ImportError:
        read_openbci_gui_txt = None
    if read_openbci_gui_txt is not None:
        rec = read_openbci_gui_txt(path)
        return np.asarray(rec.eeg, dtype=np.float64), float(rec.fs)
    fs = 250.0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("%Sample Rate"):
                fs = float(line.split("=")[1].split()[0])
            if not line.startswith("%"):
                break
    data = np.loadtxt(path, delimiter=",", comments="%", skiprows=5, usecols=range(1, 9))
    return data.T.copy(), fs


# ---------------------------------------------------------------------------- sections


def ecg_section(path: Path | None) -> tuple[np.ndarray, float, np.ndarray]:
    from edge_emotion.kernels import (
        clean_rr,
        detect_rpeaks,
        hrv_time,
        hrv_window,
        rr_intervals,
        score_peaks,
    )

    if path is not None:
        d = np.load(path)
        ecg, fs, ref = d["ecg"].astype(np.float64), float(d["fs"]), d["rpeaks"]
        label = f"MIT-BIH record {d['record']} ({d['lead']}), {path}"
    else:
        from edge_emotion.synthetic import synthetic_ecg

        fs = 250.0
        ecg, ref = synthetic_ecg(120.0, fs, np.random.default_rng(0), heart_rate_bpm=68.0)
        label = "generated ECG (Gaussian waves, µV, 68 bpm with RSA; no recording found)"
    print(f"ECG: {label}")
    print(f"     {ecg.size} samples at {fs:g} Hz = {ecg.size / fs / 60:.1f} min")
    t0 = time.perf_counter()
    peaks = detect_rpeaks(ecg, fs)
    dt = time.perf_counter() - t0
    print(f"R-peaks: {peaks.size} detected in {dt * 1e3:.1f} ms (first call includes loading)")
    s = score_peaks(peaks, ref, fs)
    print(
        f"  vs {ref.size} reference beats (150 ms): Se {s.sensitivity:.4f}  PPV {s.ppv:.4f}  "
        f"F1 {s.f1:.4f}  mean |timing error| {s.mean_abs_error_ms:.1f} ms"
    )
    n_art = clean_rr(rr_intervals(peaks, fs)).n_artefacts
    print(f"HRV, time domain (the local-median rule corrects {n_art} of {peaks.size - 1} RR):")
    print("           detected  reference  detected+corrected")
    ours = hrv_time(peaks, fs)
    refm = hrv_time(ref, fs)
    corr = hrv_time(peaks, fs, correction="local_median")
    units = {"MeanNN": "ms", "SDNN": "ms", "RMSSD": "ms", "pNN50": "%", "HR": "bpm"}
    for k, u in units.items():
        print(f"  {k:<7}{ours[k]:10.1f} {refm[k]:10.1f} {corr[k]:10.1f}  {u}")
    n = ecg.size
    series, n_beats, n_art = hrv_window(peaks, fs, n - round(10 * fs), n, 32)
    filled = series[series > 0]
    print(f"HRV series of the last 10 s (model input; {n_beats} beats, {n_art} RR corrected):")
    print(f"  RR s: {' '.join(f'{v:.3f}' for v in filled)} + {series.size - filled.size} zeros")
    return ecg, fs, peaks


def eeg_section(path: Path | None) -> tuple[np.ndarray, float]:
    from edge_emotion.kernels import DEFAULT_BANDS, band_de, band_de_map

    if path is not None:
        eeg, fs = read_openbci(path)
        label = f"OpenBCI Cyton recording, {path}"
        # The OpenBCI GUI's default Cyton montage; the file itself does not name electrodes.
        names = list(CYTON_MONTAGE) if eeg.shape[0] == 8 else [f"ch{i}" for i in range(8)]
        alpha_rows = [names.index("O1"), names.index("O2")] if eeg.shape[0] == 8 else None
        alpha_label = "O1/O2"
    else:
        eeg, fs = synthetic_eeg()
        label = "generated EEG (1/f + 10-Hz alpha from 30 s on; no recording found)"
        names = [f"ch{i}" for i in range(eeg.shape[0])]
        alpha_rows, alpha_label = None, "channel mean"
    print(f"\nEEG: {label}")
    print(f"     {eeg.shape[0]} channels x {eeg.shape[1]} samples at {fs:g} Hz")
    t0 = time.perf_counter()
    de = band_de(eeg, fs)
    dt = time.perf_counter() - t0
    bands = [b[0] for b in DEFAULT_BANDS]
    print(
        f"Band DE of the whole recording (nats re 1 µV, zero-phase band-pass; {dt * 1e3:.1f} ms):"
    )
    print("  channel" + "".join(f"{n:>8}" for n in bands))
    for ch in range(de.shape[0]):
        print(f"  {names[ch]:<7}" + "".join(f"{v:8.2f}" for v in de[ch]))
    step = 5.0
    maps = band_de_map(eeg, fs, subwindow_s=step)  # (bands, channels, blocks), causal tail
    alpha = maps[bands.index("alpha")]
    alpha = alpha[alpha_rows].mean(axis=0) if alpha_rows else alpha.mean(axis=0)
    offset = eeg.shape[1] / fs - alpha.size * step  # blocks end at the last sample
    print(f"Alpha DE ({alpha_label}) per {step:g}-s block (start time); eyes closed -> higher:")
    cells = [f"{offset + i * step:4.0f}s {a:4.1f}" for i, a in enumerate(alpha)]
    for i in range(0, len(cells), 6):
        print("  " + "   ".join(cells[i : i + 6]))
    return eeg, fs


def streaming_section(eeg: np.ndarray, eeg_fs: float, ecg: np.ndarray, ecg_fs: float) -> None:
    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.kernels.features import StreamingFeatureExtractor

    n_ch = eeg.shape[0]
    # 0.25-s hops are not whole samples at 250 Hz: use 0.2 s there.
    hop = 0.25 if abs(0.25 * eeg_fs - round(0.25 * eeg_fs)) < 1e-9 else 0.2
    cfg = FeatureConfig(
        eeg_fs=eeg_fs,
        ecg_fs=ecg_fs,
        hop_s=hop,
        eeg_channels=tuple(f"ch{i}" for i in range(n_ch)),
    )
    ext = StreamingFeatureExtractor(cfg)
    duration = min(eeg.shape[1] / eeg_fs, ecg.size / ecg_fs, 60.0)
    hops = int(duration / cfg.hop_s)
    times, ne, nc = [], 0, 0
    for h in range(1, hops + 1):
        end = h * cfg.hop_s
        e_to, c_to = round(end * eeg_fs), int(np.ceil(end * ecg_fs - 1e-6))
        t0 = time.perf_counter()
        ext.push_eeg(eeg[:, ne:e_to])
        ext.push_ecg(ecg[nc:c_to])
        if ext.ready:
            de_map, hrv = ext.features()
            times.append(time.perf_counter() - t0)
        ne, nc = e_to, c_to
    t = np.asarray(times[1:]) * 1e6
    print(
        f"\nStreaming (device path, StreamingFeatureExtractor): {hops} hops of {cfg.hop_s:g} s "
        f"over {duration:.0f} s\n  last hop: EEG DE map {de_map.shape}, HRV series {hrv.shape}, "
        f"{ext.n_beats} beats in its ECG window (ends {ext.delay_samples / ecg_fs:.2f} s back)"
    )
    print(
        f"  push + features per hop ({n_ch} EEG ch at {eeg_fs:g} Hz + ECG at {ecg_fs:g} Hz): "
        f"median {np.median(t):.0f} µs, p99 {np.percentile(t, 99):.0f} µs"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m edge_emotion.kernels",
        description="Run the feature kernels on a real (or generated) ECG and EEG recording.",
    )
    p.add_argument(
        "--ecg",
        type=Path,
        default=DEFAULT_ECG if DEFAULT_ECG.is_file() else None,
        help="MIT-BIH .npz (keys ecg, fs, rpeaks); default: %(default)s",
    )
    p.add_argument(
        "--eeg",
        type=Path,
        default=DEFAULT_EEG if DEFAULT_EEG.is_file() else None,
        help="OpenBCI GUI .txt recording; default: %(default)s",
    )
    p.add_argument("--synthetic", action="store_true", help="ignore recordings, use generated")
    args = p.parse_args(argv)
    ecg_path = None if args.synthetic else args.ecg
    eeg_path = None if args.synthetic else args.eeg
    for name, path in (("--ecg", ecg_path), ("--eeg", eeg_path)):
        if path is not None and not path.is_file():
            p.error(f"{name}: no such file: {path}")
    t0 = time.perf_counter()
    ecg, ecg_fs, _ = ecg_section(ecg_path)
    eeg, eeg_fs = eeg_section(eeg_path)
    streaming_section(eeg, eeg_fs, ecg, ecg_fs)
    print(f"\nDone in {time.perf_counter() - t0:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
