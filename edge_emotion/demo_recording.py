"""The built-in demo recording: ECG with real QRS complexes and EEG with band structure,
written as a BrainFlow file for the playback board.

BrainFlow's synthetic board is no substitute: its "ECG" channels carry the same sine
waves as its EEG channels, so R-peak detection on them measures nothing. The signals
come from :mod:`edge_emotion.synthetic` (numpy alone): EEG at the 14 Emotiv EPOC
positions by default and one ECG lead, both following the demo's arousal/valence
timeline (``DEMO_TIMELINE``), which changes a few times so the demo's decisions move.
Amplitudes in µV; it is a demo signal, never a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS
from edge_emotion.synthetic import synthetic_recording

DEMO_MASTER_BOARD = "SYNTHETIC_BOARD"  # 16 ExG rows at 250 Hz
DEMO_FS = 250.0
DEMO_ECG_EXG = 16  # the ECG lead on the 16th ExG input; EEG on 1..14


@dataclass(frozen=True)
class DemoRecording:
    """A written demo file and how to play it: master board, rate, channel map."""

    path: Path
    master_board: str
    sampling_rate: float
    channel_map: dict
    duration_s: float


def write_demo_recording(
    path: str | Path,
    duration_s: float = 60.0,
    seed: int = 0,
    eeg_channels=None,
) -> DemoRecording:
    """Write the demo as a BrainFlow file (SYNTHETIC_BOARD layout, 250 Hz) to ``path``.

    EEG electrodes on ExG 1..14 (``eeg_channels``, default the 14 Emotiv EPOC positions
    the demo bundle uses), ECG on ExG 16, ExG 15 a quiet unused input; the timestamp and
    package-number rows are filled.
    """
    from edge_emotion.brainflow_source import board_rows, write_brainflow_file

    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    eeg_channels = tuple(EMOTIV_EPOC_CHANNELS if eeg_channels is None else eeg_channels)
    if len(eeg_channels) > 14:
        raise ValueError(f"eeg_channels: the demo board carries 14 EEG, got {len(eeg_channels)}")
    board = board_rows(DEMO_MASTER_BOARD)
    fs = board.sampling_rate
    exg = board.exg
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    data = np.zeros((board.num_rows, n))
    signals = synthetic_recording(eeg_channels, duration_s, fs, rng)
    for i in range(len(eeg_channels)):
        data[exg[i]] = signals[i]
    data[exg[14]] = 2.0 * rng.standard_normal(n)
    data[exg[DEMO_ECG_EXG - 1]] = signals[-1]
    data[board.package_num] = np.arange(n) % 256
    data[board.timestamp] = np.arange(n) / fs
    path = Path(path)
    write_brainflow_file(data, path)
    channel_map = {name: i + 1 for i, name in enumerate(eeg_channels)}
    channel_map["ECG"] = DEMO_ECG_EXG
    return DemoRecording(path, DEMO_MASTER_BOARD, fs, channel_map, n / fs)
