"""The built-in demos, written as BrainFlow files for the playback board.

**The default demo** (``--source demo``) is real: one subject of PhysioNet's "EEG During
Mental Arithmetic Tasks" (eegmat, ODC-By; ``demo_data/ATTRIBUTION.md``), held out of the
shipped bundles' training: the last 120 s of rest, then 60 s of serial subtraction, at
the OpenBCI Cyton's 8 electrode positions plus the ECG lead, 125 Hz. It is written in
the layout of BrainFlow's ``CYTON_DAISY_BOARD`` (16 ExG inputs at 125 Hz): EEG on
inputs 1-8 in the Cyton's placement (``DEMO_CYTON_INPUTS``), ECG on input 9 (the Daisy's
first, ``DEMO_ECG_INPUT``), inputs 10-16 unused (zero). A Cyton+Daisy wired that way
runs the same bundle live. The recording knows its timeline (:attr:`DemoRecording.
known_states`), so the run's summary scores its decisions against it.

**The synthetic demo** (``--source demo:synthetic``): generated signals from
:mod:`edge_emotion.synthetic` (ECG with real QRS complexes, EEG with band structure; the
arousal/valence timeline changes a few times) at the 14 Emotiv EPOC positions, in the
``SYNTHETIC_BOARD`` layout at 250 Hz, for the synthetic demo bundle. BrainFlow's own
synthetic board is no substitute: its "ECG" channels carry the same sine waves as its EEG
channels. Amplitudes in µV; a demo signal, never a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS, OPENBCI_CYTON_CHANNELS
from edge_emotion.sinks import KnownState
from edge_emotion.synthetic import synthetic_recording

DEMO_DATA = Path(__file__).resolve().parent / "demo_data" / "eegmat_subject01.npz"
DEMO_BOARD = "CYTON_DAISY_BOARD"  # 16 ExG rows at 125 Hz
DEMO_CYTON_INPUTS = {name: i + 1 for i, name in enumerate(OPENBCI_CYTON_CHANNELS)}
DEMO_ECG_INPUT = 9
# What each part of the recording is, for the bundles' target.
DEMO_STATE_LABELS = {"rest": {"arousal": "low"}, "arithmetic": {"arousal": "high"}}

SYNTHETIC_MASTER_BOARD = "SYNTHETIC_BOARD"  # 16 ExG rows at 250 Hz
SYNTHETIC_FS = 250.0
SYNTHETIC_ECG_EXG = 16  # the ECG lead on the 16th ExG input; EEG on 1..14


@dataclass(frozen=True)
class DemoRecording:
    """A written demo file and how to play it: master board, rate, channel map, and what
    is known about its parts (empty for the synthetic demo)."""

    path: Path
    master_board: str
    sampling_rate: float
    channel_map: dict
    duration_s: float
    known_states: tuple[KnownState, ...] = ()
    description: str = ""


def read_demo_data(path: str | Path = DEMO_DATA) -> dict:
    """The shipped demo recording: ``eeg`` (8, n) and ``ecg`` (n,) in µV, ``fs``, the EEG
    channel names and the states (name, start s)."""
    with np.load(path, allow_pickle=False) as z:
        return {
            "eeg": z["eeg"].astype(np.float64) * float(z["eeg_uv_per_count"]),
            "ecg": z["ecg"][0].astype(np.float64) * float(z["ecg_uv_per_count"]),
            "fs": float(z["fs"]),
            "eeg_channels": tuple(str(c) for c in z["eeg_channels"]),
            "states": tuple(str(s) for s in z["states"]),
            "state_starts_s": tuple(float(t) for t in z["state_starts_s"]),
            "subject": str(z["subject"]),
        }


def write_demo_recording(path: str | Path, data: str | Path = DEMO_DATA) -> DemoRecording:
    """Write the real demo (see the module docstring) as a ``CYTON_DAISY_BOARD`` BrainFlow
    file to ``path``; timestamp and package-number rows filled."""
    from edge_emotion.brainflow_source import board_rows, write_brainflow_file

    demo = read_demo_data(data)
    board = board_rows(DEMO_BOARD)
    fs = board.sampling_rate
    if abs(fs - demo["fs"]) > 1e-9:
        raise ValueError(f"{data}: {demo['fs']:g} Hz, but {DEMO_BOARD} plays {fs:g} Hz")
    n = demo["ecg"].size
    out = np.zeros((board.num_rows, n))
    channel_map = {}
    for i, name in enumerate(demo["eeg_channels"]):
        out[board.exg[DEMO_CYTON_INPUTS[name] - 1]] = demo["eeg"][i]
        channel_map[name] = DEMO_CYTON_INPUTS[name]
    out[board.exg[DEMO_ECG_INPUT - 1]] = demo["ecg"]
    channel_map["ECG"] = DEMO_ECG_INPUT
    out[board.package_num] = np.arange(n) % 256
    out[board.timestamp] = np.arange(n) / fs
    path = Path(path)
    write_brainflow_file(out, path)
    ends = (*demo["state_starts_s"][1:], n / fs)
    states = tuple(
        KnownState(name, start, end, DEMO_STATE_LABELS.get(name, {}))
        for name, start, end in zip(demo["states"], demo["state_starts_s"], ends, strict=True)
    )
    parts = ", ".join(f"{s.name} {s.end_s - s.start_s:g} s" for s in states)
    description = (
        f"demo recording: PhysioNet eegmat {demo['subject']} ({parts}; ODC-By, see "
        f"{DEMO_DATA.parent / 'ATTRIBUTION.md'}), {DEMO_BOARD} layout at {fs:g} Hz, "
        f"EEG on inputs 1-8, ECG on input {DEMO_ECG_INPUT}, on BrainFlow PLAYBACK_FILE_BOARD"
    )
    return DemoRecording(path, DEMO_BOARD, fs, channel_map, n / fs, states, description)


def write_synthetic_demo_recording(
    path: str | Path,
    duration_s: float = 60.0,
    seed: int = 0,
    eeg_channels=None,
) -> DemoRecording:
    """Write the synthetic demo as a BrainFlow file (SYNTHETIC_BOARD layout, 250 Hz).

    EEG electrodes on ExG 1..14 (``eeg_channels``, default the 14 Emotiv EPOC positions
    the synthetic demo bundle uses), ECG on ExG 16, ExG 15 a quiet unused input; the
    timestamp and package-number rows are filled.
    """
    from edge_emotion.brainflow_source import board_rows, write_brainflow_file

    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    eeg_channels = tuple(EMOTIV_EPOC_CHANNELS if eeg_channels is None else eeg_channels)
    if len(eeg_channels) > 14:
        raise ValueError(f"eeg_channels: the demo board carries 14 EEG, got {len(eeg_channels)}")
    board = board_rows(SYNTHETIC_MASTER_BOARD)
    fs = board.sampling_rate
    exg = board.exg
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    data = np.zeros((board.num_rows, n))
    signals = synthetic_recording(eeg_channels, duration_s, fs, rng)
    for i in range(len(eeg_channels)):
        data[exg[i]] = signals[i]
    data[exg[14]] = 2.0 * rng.standard_normal(n)
    data[exg[SYNTHETIC_ECG_EXG - 1]] = signals[-1]
    data[board.package_num] = np.arange(n) % 256
    data[board.timestamp] = np.arange(n) / fs
    path = Path(path)
    write_brainflow_file(data, path)
    channel_map = {name: i + 1 for i, name in enumerate(eeg_channels)}
    channel_map["ECG"] = SYNTHETIC_ECG_EXG
    description = (
        f"synthetic demo recording ({n / fs:g} s generated EEG+ECG, {SYNTHETIC_MASTER_BOARD} "
        f"layout at {fs:g} Hz) on BrainFlow PLAYBACK_FILE_BOARD"
    )
    return DemoRecording(
        path, SYNTHETIC_MASTER_BOARD, fs, channel_map, n / fs, description=description
    )


def demo_config(spec: str, bundle, workdir: Path, ecg_names: tuple[str, ...]):
    """The playback configuration of ``--source demo`` (the real recording, played once)
    or ``demo:synthetic`` (generated for the bundle's EEG channels, looped); returns
    ``(BoardConfig, DemoRecording)``."""
    from edge_emotion.playback import playback_config

    kind = spec.partition(":")[2]
    if kind == "synthetic":
        rec = write_synthetic_demo_recording(
            workdir / "demo_recording.csv", eeg_channels=bundle.feature_config.eeg_channels
        )
    elif kind == "":
        rec = write_demo_recording(workdir / "demo_recording.csv")
    else:
        raise ValueError(f"--source {spec!r}: expected demo (a real recording) or demo:synthetic")
    cfg = playback_config(
        rec.path, rec.master_board, rec.channel_map, loop=kind == "synthetic", ecg_names=ecg_names
    )
    return cfg, rec
