"""Small recordings written by the libraries that read them (pyedflib, BrainFlow), and by
the test-only XDF writer, for the recording reader tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from xdf_writer import XdfStream, write_xdf


def physical_max(values: np.ndarray) -> float:
    """A round number above ``max |values|`` (EDF headers hold 8 characters)."""
    top = max(float(np.max(np.abs(values))), 1e-6)
    decade = 10.0 ** math.floor(math.log10(top))
    return next(k * decade for k in (2, 5, 10, 20) if k * decade > top)


def quantum(values: np.ndarray, bdf: bool = False) -> float:
    """One digital step of the signal written for ``values``, in their unit."""
    return 2 * physical_max(values) / (2**24 if bdf else 2**16)


def edf_signal(label: str, fs: float, values: np.ndarray, unit: str, bdf: bool) -> dict:
    """A pyedflib signal header whose physical range fits ``values``."""
    top = physical_max(values)
    digital = 2**23 - 1 if bdf else 2**15 - 1
    return {
        "label": label,
        "dimension": unit,
        "sample_frequency": fs,
        "physical_max": top,
        "physical_min": -top,
        "digital_max": digital,
        "digital_min": -digital - 1,
        "prefilter": "",
        "transducer": "",
    }


def write_edf(
    path: Path,
    signals: list[tuple[str, float, np.ndarray, str]],
    bdf: bool = False,
    annotations: tuple[tuple[float, float, str], ...] = (),
) -> Path:
    """Write ``(label, fs, values in the unit, unit)`` signals as EDF+ (or BDF+)."""
    import pyedflib

    kind = pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=kind)
    try:
        writer.setSignalHeaders([edf_signal(lab, fs, v, u, bdf) for lab, fs, v, u in signals])
        writer.writeSamples([np.asarray(v, dtype=np.float64) for _, _, v, _ in signals])
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()
    return path


def ecg_like(n: int, fs: float, bpm: float = 72.0, amplitude: float = 1.0) -> np.ndarray:
    """A spiky periodic trace (one narrow Gaussian per beat): enough for R-peak detection."""
    t = np.arange(n) / fs
    phase = (t * bpm / 60.0) % 1.0
    return amplitude * np.exp(-(((phase - 0.5) / 0.012) ** 2))


def write_brainflow(
    path: Path,
    exg: np.ndarray,
    master_board: str = "SYNTHETIC_BOARD",
    sidecar: dict | None = None,
    markers: dict[int, float] | None = None,
) -> Path:
    """Write ``exg`` (channels, samples; µV) on the master board's first ExG rows with
    ``DataFilter.write_file``, and ``sidecar`` (``None``: none) beside it."""
    from edge_emotion.brainflow_source import _brainflow, _data_filter, board_id

    bf = _brainflow()
    bid = board_id(master_board)
    descr = bf.BoardShim.get_board_descr(bid)
    rows = list(bf.BoardShim.get_exg_channels(bid))
    n = exg.shape[1]
    data = np.zeros((int(descr["num_rows"]), n))
    data[rows[: exg.shape[0]]] = exg
    data[int(descr["timestamp_channel"])] = 1.7e9 + np.arange(n) / float(descr["sampling_rate"])
    for k, value in (markers or {}).items():
        data[int(descr["marker_channel"]), k] = value
    _data_filter().write_file(np.ascontiguousarray(data), str(path), "w")
    if sidecar is not None:
        Path(str(path) + ".json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def write_two_stream_xdf(path: Path, seconds: float = 6.0, ecg_offset_s: float = 0.25) -> Path:
    """EEG (Fp1, T3, A1 in volts, 256 Hz), ECG (millivolts, 130 Hz, starting
    ``ecg_offset_s`` later) and a marker stream."""
    rng = np.random.default_rng(3)
    t0 = 5000.0
    n_eeg, n_ecg = round(seconds * 256), round((seconds - ecg_offset_s) * 130)
    eeg = XdfStream(
        "amp",
        "EEG",
        256,
        rng.standard_normal((n_eeg, 3)) * 20e-6,
        t0 + np.arange(n_eeg) / 256,
        channel_format="double64",
        labels=["Fp1", "T3", "A1"],
        units=["volts"] * 3,
    )
    ecg = XdfStream(
        "chest",
        "ECG",
        130,
        ecg_like(n_ecg, 130)[:, None],
        t0 + ecg_offset_s + np.arange(n_ecg) / 130,
        channel_format="double64",
        labels=["ECG1"],
        units=["mV"],
    )
    marks = XdfStream(
        "events", "Markers", 0, ["rest", "task"], np.array([t0 + 1.0, t0 + 3.5]), "string"
    )
    return write_xdf(path, [eeg, ecg, marks])
