"""XDF (LSL LabRecorder) recordings through pyxdf.

Every numeric stream with a nominal rate becomes a :class:`~.recording.Stream`; string
streams and irregular ones (nominal rate 0) become markers (one per sample, its first
value as text). pyxdf synchronises the streams' clocks and removes time-stamp jitter (its
defaults); the recording's time axis starts at the earliest first time stamp of the
regular streams, and each stream's ``start_s`` is its own first time stamp on that axis.

Channel labels, units and types come from the stream description
(``desc/channels/channel/{label,unit,type}``, the LSL convention); a channel without a
type takes the stream's type (``EEG``, ``ECG``...). A stream without labels names its
channels ``<stream name> 1`` ... and a channel without a unit needs ``default_unit``.

Samples are placed on the stream's nominal grid by their time stamps: a break in the
stream (samples never recorded) becomes NaN; breaks adding up to more than ``max_gap_s``
(which bounds the memory a file's time stamps can ask for), or time stamps that go
backwards, are an error (the file is not one recording).
pyxdf finds breaks of at least 1 s and 500 samples (its defaults); a shorter pause it
takes for time-stamp jitter and spreads over the segment's samples.
pyxdf skips damaged chunks with a logged error; here such a file is an error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np

from edge_emotion.training.recordings.recording import (
    Marker,
    Recording,
    RecordingError,
    Stream,
    channel_from_label,
    file_head,
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _text(node, key: str) -> str | None:
    """``node[key][0]`` of pyxdf's XML dicts (lists of one), as a stripped string."""
    if not isinstance(node, dict):
        return None
    value = node.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    return value.strip() if isinstance(value, str) else None


def _channel_descs(info: dict) -> list[dict]:
    desc = info.get("desc")
    desc = desc[0] if isinstance(desc, list) and desc else desc
    if not isinstance(desc, dict):
        return []
    channels = desc.get("channels")
    channels = channels[0] if isinstance(channels, list) and channels else channels
    if not isinstance(channels, dict):
        return []
    found = channels.get("channel") or []
    return [c for c in found if isinstance(c, dict)]


def _on_grid(
    values: np.ndarray, stamps: np.ndarray, fs: float, where: str, max_gap_s: float
) -> np.ndarray:
    """(channels, grid) with each sample at round((t - t0) * fs); NaN where none came."""
    n = stamps.size
    index = np.rint((stamps - stamps[0]) * fs).astype(np.int64)
    steps = np.diff(index)
    if (steps < 1).any():
        k = int(np.flatnonzero(steps < 1)[0])
        raise RecordingError(
            f"{where}: time stamps do not advance at sample {k + 1} "
            f"({stamps[k]:.6f} -> {stamps[k + 1]:.6f} s at {fs:g} Hz)"
        )
    lost = int(index[-1]) + 1 - n
    if lost > max_gap_s * fs:  # also bounds the memory a file's time stamps can ask for
        k = int(np.argmax(steps))
        raise RecordingError(
            f"{where}: breaks add up to {lost / fs:.1f} s (the longest {(steps[k] - 1) / fs:.1f} s "
            f"after {stamps[k] - stamps[0]:.1f} s), more than max_gap_s = {max_gap_s:g} s; "
            "split the recording"
        )
    if index[-1] + 1 == n:
        return np.ascontiguousarray(values.T)
    grid = np.full((values.shape[1], int(index[-1]) + 1), np.nan)
    grid[:, index] = values.T
    return grid


def read_xdf(
    path: str | Path, default_unit: str | None = None, max_gap_s: float = 60.0
) -> Recording:
    """Read an XDF file; see the module docstring."""
    import pyxdf

    path = Path(path)
    head = file_head(path, 4)
    if not path.name.lower().endswith((".xdfz", ".gz")) and head != b"XDF:":
        raise RecordingError(f"{path}: not an XDF file (it starts with {head!r}, not b'XDF:')")
    collect = _Collect()
    logger = logging.getLogger("pyxdf.pyxdf")
    logger.addHandler(collect)
    try:
        raw_streams, header = pyxdf.load_xdf(str(path), verbose=False)
    except Exception as exc:  # pyxdf raises assorted types for a damaged file
        raise RecordingError(
            f"{path}: cannot be read as XDF ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        logger.removeHandler(collect)
    if collect.messages:
        raise RecordingError(f"{path}: damaged XDF file ({collect.messages[0]})")
    regular, irregular = [], []
    for s in raw_streams:
        info = s["info"]
        fs = float(_text(info, "nominal_srate") or 0.0)
        fmt = _text(info, "channel_format") or "float32"
        stamps = np.asarray(s["time_stamps"], dtype=np.float64)
        if fs > 0 and fmt != "string" and stamps.size:
            regular.append((s, fs, stamps))
        elif stamps.size:
            irregular.append((s, stamps))
    if not regular:
        raise RecordingError(f"{path}: no regularly sampled numeric stream")
    origin = min(float(st[0]) for _, _, st in regular)
    streams = []
    for s, fs, stamps in regular:
        info = s["info"]
        name = _text(info, "name") or f"stream {_text(info, 'stream_id')}"
        stream_type = _text(info, "type")
        values = np.asarray(s["time_series"], dtype=np.float64)
        descs = _channel_descs(info)
        if len(descs) != values.shape[1]:
            descs = [{} for _ in range(values.shape[1])]
        channels, scales = [], []
        for i, d in enumerate(descs):
            label = _text(d, "label") or f"{name} {i + 1}"
            channel, scale = channel_from_label(
                label,
                _text(d, "type") or stream_type,
                "other",
                _text(d, "unit"),
                f"{path}: stream {name!r} channel {label!r}",
                default_unit,
            )
            channels.append(channel)
            scales.append(scale)
        data = _on_grid(values, stamps, fs, f"{path}: stream {name!r}", max_gap_s)
        data *= np.asarray(scales)[:, None]
        streams.append(Stream(name, fs, tuple(channels), data, float(stamps[0]) - origin))
    markers = []
    for s, stamps in irregular:
        series = s["time_series"]
        for t, row in zip(stamps, series, strict=True):
            text = row[0] if len(row) else ""
            markers.append(Marker(float(t) - origin, None, str(text)))
    markers.sort(key=lambda m: m.onset_s)
    start = None
    stamp = _text((header or {}).get("info", {}), "datetime")
    if stamp:
        try:
            start = datetime.fromisoformat(stamp)
        except ValueError:
            start = None
    return Recording(path, "xdf", tuple(streams), tuple(markers), start)
