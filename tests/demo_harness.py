"""The built-in demos, classified faster than real time: the reference for "no behaviour
change" in the runtime.

``python -m edge_emotion.run`` writes a demo recording, replays it through BrainFlow's
playback board in real time and classifies it. The decisions depend only on the samples,
not on how they were chunked or when they arrived (hops are scheduled on the data clock),
so feeding the same file's samples straight into a
:class:`~edge_emotion.classifier.Classifier` reproduces the run's decisions, apart from
the host clock, latencies and the board's timestamps. ``demo_decisions`` is the synthetic
demo (``--source demo:synthetic``, looped), ``real_demo_decisions`` the default one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

# Fields that no two runs share: the host clock, measured latencies, board timestamps.
UNSTABLE_FIELDS = ("time_unix", "latency_ms", "window_end_ts")
# Board reads of 0.05-1 s at 250 Hz, as the playback board returns them.
CHUNK_SIZES = (12, 25, 125, 31, 250, 62, 200, 95)


def board_file_samples(path: Path, master_board: str, channel_map: dict):
    """A BrainFlow file as the playback board delivers it: (rows, fs, streams), the rows
    of ``channel_map`` (name -> 1-based ExG input; ``ECG`` is the ECG lead).

    Read back by BrainFlow, so the samples carry the file's rounding.
    """
    from brainflow.board_shim import BoardShim
    from brainflow.data_filter import DataFilter

    from edge_emotion.brainflow_source import board_id
    from edge_emotion.source import ChannelInfo, StreamInfo

    bid = board_id(master_board)
    data = DataFilter.read_file(str(path))
    exg = BoardShim.get_exg_channels(bid)
    fs = float(BoardShim.get_sampling_rate(bid))
    rows = np.ascontiguousarray(data[[exg[p - 1] for p in channel_map.values()]])
    channels = tuple(ChannelInfo(name, "ecg" if name == "ECG" else "eeg") for name in channel_map)
    return rows, fs, (StreamInfo(fs, channels),)


def demo_board_samples(folder: Path):
    """The synthetic demo recording as the playback board delivers it: (rows, fs, streams)."""
    from edge_emotion.demo_recording import write_synthetic_demo_recording

    rec = write_synthetic_demo_recording(Path(folder) / "demo_recording.csv")
    return board_file_samples(rec.path, rec.master_board, rec.channel_map)


def classify(rows, fs, streams, bundle, backend, duration_s, chunk_sizes, loop) -> list:
    """The decisions of ``duration_s`` of ``rows`` (wrapped round when ``loop``; all of
    them once otherwise)."""
    from edge_emotion.classifier import Classifier, LoopConfig
    from edge_emotion.engines import create_engine
    from edge_emotion.source import Chunk

    classifier = Classifier(bundle, create_engine(bundle, backend), streams, LoopConfig())
    total = round(duration_s * fs) if loop else rows.shape[1]
    records, i, k = [], 0, 0
    while i < total:
        n = min(chunk_sizes[k % len(chunk_sizes)], total - i)
        idx = np.arange(i, i + n)
        chunk = Chunk(0, np.take(rows, idx, axis=1, mode="wrap"), 1.7e9 + idx / fs)
        records += classifier.feed(chunk)
        i, k = i + n, k + 1
    return records


def demo_decisions(
    folder: Path, duration_s: float = 62.0, chunk_sizes=CHUNK_SIZES, backend="onnxruntime"
) -> list[dict]:
    """The decision records of ``duration_s`` of the looped synthetic demo."""
    from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle

    rows, fs, streams = demo_board_samples(folder)
    bundle = load_bundle(DEMO_BUNDLE_PATH)
    decisions = classify(rows, fs, streams, bundle, backend, duration_s, chunk_sizes, loop=True)
    return [d.to_dict() for d in decisions]


def real_demo_decisions(folder: Path, backend="onnxruntime", chunk_sizes=CHUNK_SIZES):
    """(decisions, recording) of the default demo (the eegmat recording, played once)
    through the default bundle."""
    from edge_emotion.bundle import load_bundle
    from edge_emotion.demo_recording import write_demo_recording
    from edge_emotion.shipped import resolve_bundle

    rec = write_demo_recording(Path(folder) / "demo_recording.csv")
    rows, fs, streams = board_file_samples(rec.path, rec.master_board, rec.channel_map)
    bundle = load_bundle(resolve_bundle(None))
    records = classify(rows, fs, streams, bundle, backend, 0.0, chunk_sizes, loop=False)
    return records, rec


def stable_form(records: list[dict], ignore=UNSTABLE_FIELDS) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ignore} for r in records]


def digest(records: list[dict], ignore=UNSTABLE_FIELDS) -> str:
    """sha256 of the records' canonical JSON without the fields no two runs share."""
    text = json.dumps(stable_form(records, ignore), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
