"""``--record FILE``: the session's raw signals, decisions and events, as it runs.

What is written, beside each other (``FILE`` = e.g. ``session.csv``):

- ``FILE``: the samples in BrainFlow's file format (``DataFilter.write_file``), in the
  row layout of a *master board* — the board itself for a BrainFlow source when its
  layout holds the channels, otherwise the BrainFlow board with the stream's sampling
  rate and the fewest spare ExG inputs (e.g. ``SYNTHETIC_BOARD`` for 250 Hz): channel
  ``i`` in the i-th ExG row, the source's timestamps (s) in the timestamp row. So
  ``--source playback:FILE`` replays it on BrainFlow's playback board, and the training
  side's recording reader reads it.
- ``FILE.json``, the sidecar (written first, before any sample): ``format``
  (``edge_emotion.recording/1``), ``master_board``, ``sampling_rate`` (Hz),
  ``channels`` (names, in ExG order), ``roles`` (``eeg``/``ecg``/``other``, per channel),
  ``units`` (physical units of the samples, e.g. ``uV``), ``timestamps`` (which clock
  the timestamp row holds), ``decisions`` and ``events`` (file names, below), ``source``
  (what was recorded), ``started_unix``, and for a source with several streams
  ``streams``: one entry per extra stream with its own ``file`` (a recording of the same
  format, with its own sidecar).
- ``FILE.decisions.jsonl``: every decision record of the run (as ``--out`` writes them).
- ``FILE.events.jsonl``: one JSON object per event — ``{"event": "marker", "t", "text"}``
  from a marker stream, ``{"event": "gap", "stream", "t", "lost_samples"}`` where the
  source lost samples (they are not written as samples: a recording never grows with a
  count read from the wire), ``{"event": "discontinuity", ...}`` for a resync.

Samples are buffered for at most ``flush_s`` (1 s) of data, then appended and
``fsync``-ed; decisions and events are flushed per line. A power loss keeps everything
up to the last second; a killed process keeps what was written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from edge_emotion.playback import SIDECAR_FORMAT, sidecar_path
from edge_emotion.source import Chunk, StreamInfo

log = logging.getLogger("edge_emotion.run")


class _StreamFile:
    """One stream written as a BrainFlow file in a master board's layout."""

    def __init__(self, path: Path, stream: StreamInfo, prefer_board: int | None) -> None:
        from edge_emotion.brainflow_source import layout_for

        n = len(stream.channels)
        layout = layout_for(stream.sampling_rate, n, prefer_board)
        if layout is None:
            raise ValueError(
                f"--record: no BrainFlow board layout holds {n} channels at "
                f"{stream.sampling_rate:g} Hz, so the recording could not be replayed; "
                "record with a source at 125, 200, 250, 256, 500 or 1000 Hz"
            )
        self.path = path
        self.stream = stream
        self.layout = layout
        self.rows = list(layout.exg[:n])
        self.num_rows = layout.num_rows
        self.ts_row = layout.timestamp
        self.pkg_row = layout.package_num
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.written = 0

    def sidecar(self) -> dict:
        s = self.stream
        return {
            "format": SIDECAR_FORMAT,
            "master_board": self.layout.name,
            "sampling_rate": s.sampling_rate,
            "channels": [c.name for c in s.channels],
            "roles": [c.role for c in s.channels],
            "units": [c.unit for c in s.channels],
        }

    def add(self, data: np.ndarray, timestamps: np.ndarray) -> None:
        n = data.shape[1]
        if not n:
            return
        block = np.zeros((self.num_rows, n))
        block[self.rows] = data
        if timestamps.size == n:
            block[self.ts_row] = timestamps
        if self.pkg_row is not None:
            block[int(self.pkg_row)] = (self.written + self.buffered + np.arange(n)) % 256
        self.buffer.append(block)
        self.buffered += n

    def flush(self) -> None:
        if not self.buffer:
            return
        from edge_emotion.brainflow_source import write_brainflow_file

        data = np.concatenate(self.buffer, axis=1)
        self.buffer, self.buffered = [], 0
        write_brainflow_file(data, self.path, append=True)
        self.written += data.shape[1]
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Recorder:
    """Writes a session as it runs (see the module docstring); a sink for decisions.

    ``open(streams)`` creates the files (refusing to overwrite any), ``add(chunk)``
    records a chunk, ``write(decision)`` a decision; ``close()`` flushes.
    ``prefer_board``: the BrainFlow board whose layout to use when it fits.
    """

    def __init__(
        self,
        path: str | Path,
        source_description: str = "",
        prefer_board: int | None = None,
        flush_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise ValueError(f"--record: folder {self.path.parent} does not exist")
        self.decisions_path = Path(str(self.path) + ".decisions.jsonl")
        self.events_path = Path(str(self.path) + ".events.jsonl")
        for p in (self.path, sidecar_path(self.path), self.decisions_path, self.events_path):
            if p.exists():
                raise ValueError(
                    f"--record: {p} exists; choose a new name (nothing is overwritten)"
                )
        self.description = source_description
        self.prefer_board = prefer_board
        self.flush_s = float(flush_s)
        self.files: list[_StreamFile] = []
        self._decisions = None
        self._events = None
        self.streams: tuple[StreamInfo, ...] | None = None

    @property
    def written_paths(self) -> list[Path]:
        out = []
        for f in self.files:
            out += [f.path, sidecar_path(f.path)]
        return [*out, self.decisions_path, self.events_path]

    def open(self, streams: tuple[StreamInfo, ...]) -> None:
        """Create the files for ``streams``; a later call (a reconnect) checks they match."""
        if self.streams is not None:
            if tuple(streams) != self.streams:
                self.event({"event": "streams_changed", "t_unix": time.time()})
            return
        from edge_emotion.sinks import JsonlSink

        self.streams = tuple(streams)
        for k, stream in enumerate(self.streams):
            p = (
                self.path
                if k == 0
                else self.path.with_name(f"{self.path.stem}.stream{k}{self.path.suffix}")
            )
            self.files.append(_StreamFile(p, stream, self.prefer_board))
        common = {
            "timestamps": "the source's clock, s (BrainFlow: Unix time; LSL: the LSL clock; "
            "firmware bridge: the device's clock)",
            "decisions": self.decisions_path.name,
            "events": self.events_path.name,
            "source": self.description,
            "started_unix": round(time.time(), 3),
        }
        for k, f in enumerate(self.files):
            side = {**f.sidecar(), **common, "stream": k}
            if k == 0 and len(self.files) > 1:
                side["streams"] = [{"file": g.path.name, **g.sidecar()} for g in self.files[1:]]
            _write_json(sidecar_path(f.path), side)
        self._decisions = JsonlSink(self.decisions_path)
        self._events = open(self.events_path, "a", encoding="utf-8")  # noqa: SIM115 (close())

    def add(self, chunk: Chunk) -> None:
        """Record a chunk's samples, and its gap or resync as an event."""
        if not self.files or not 0 <= chunk.stream < len(self.files):
            return
        f = self.files[chunk.stream]
        ts = np.asarray(chunk.timestamps, dtype=np.float64).reshape(-1)
        t0 = float(ts[0]) if ts.size and np.isfinite(ts[0]) else None
        meta = chunk.meta or {}
        if chunk.lost_samples:
            self.event(
                {
                    "event": "gap",
                    "stream": chunk.stream,
                    "t": t0,
                    "lost_samples": int(chunk.lost_samples),
                }
            )
        if meta.get("discontinuity"):
            jump = meta.get("index_jump")
            self.event(
                {"event": "discontinuity", "stream": chunk.stream, "t": t0, "index_jump": jump}
            )
        for t, text in meta.get("markers") or ():
            self.event({"event": "marker", "t": float(t), "text": str(text)})
        data = np.asarray(chunk.data, dtype=np.float64)
        if data.ndim == 2 and data.shape[0] == len(f.rows):
            f.add(data, ts)
            if f.buffered >= self.flush_s * f.stream.sampling_rate:
                f.flush()

    def event(self, record: dict) -> None:
        if self._events is None:
            return
        self._events.write(json.dumps(record, allow_nan=False, default=str) + "\n")
        self._events.flush()

    def write(self, decision) -> None:
        if self._decisions is not None:
            self._decisions.write(decision)

    def flush(self) -> None:
        for f in self.files:
            f.flush()

    def close(self) -> None:
        self.flush()
        if self._decisions is not None:
            self._decisions.close()
        if self._events is not None and not self._events.closed:
            self._events.close()


class RecordingSource:
    """A source that records every chunk it delivers with a :class:`Recorder`; anything
    else (``stream``, ``send_decision``, ...) is the wrapped source's."""

    def __init__(self, source, recorder: Recorder) -> None:
        self.source = source
        self.recorder = recorder

    def start(self) -> tuple[StreamInfo, ...]:
        streams = self.source.start()
        self.recorder.open(tuple(streams))
        return streams

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        chunks = self.source.read(timeout_s)
        for chunk in chunks:
            self.recorder.add(chunk)
        return chunks

    def stop(self) -> None:
        try:
            self.source.stop()
        finally:
            self.recorder.flush()

    def __getattr__(self, name: str):
        return getattr(self.source, name)


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
