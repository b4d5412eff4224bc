"""The typed recording every reader returns.

A :class:`Recording` holds one or more :class:`Stream` — groups of channels sampled
together at one rate (an EDF file with EEG at 500 Hz and ECG at 250 Hz has two; an XDF file
one per LSL stream) — placed on one time axis: ``Stream.start_s`` is the time of a stream's
first sample, in seconds from the recording's start (0 for EDF and BrainFlow files; the
offset of each stream's first time stamp from the earliest one for XDF). Markers and
annotations are on the same axis.

Units: EEG and ECG channels hold µV (converted from the file's physical unit on reading);
other channels keep the file's unit, converted to µV when it is a voltage.

Missing samples are NaN (a gap in an XDF stream, a NaN written by a board); nothing is
filled in. :attr:`Stream.missing` is the mask. :func:`edge_emotion.training.recordings.
model_rate.model_rate_signals` decides what a missing sample becomes at the model's rate.

Selecting a modality: :meth:`Recording.eeg` (named electrodes, or every EEG channel found)
and :meth:`Recording.ecg` (named, or the one ECG channel found) return :class:`Signals`;
names are matched after normalisation (asking for ``T3`` finds ``T7``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from edge_emotion.training.recordings.channels import (
    MICROVOLT,
    ChannelKind,
    classify_channel,
    normalise_name,
    scale_to_uv,
    uv_per_unit,
)


class RecordingError(ValueError):
    """A recording cannot be read, or cannot give what was asked; the message names the file."""


class ChannelNotFound(RecordingError):
    """A channel the configuration needs is not in the recording."""


@dataclass(frozen=True)
class Channel:
    """One channel: ``name`` normalised (``T7``, ``ECG``), ``label`` as in the file,
    ``kind`` (``eeg``/``ecg``/``other``) and ``unit`` after reading (``uV`` for voltages)."""

    name: str
    label: str
    kind: ChannelKind
    unit: str = MICROVOLT


@dataclass
class Stream:
    """Channels sampled together: ``data`` (channels, samples) float64, NaN where missing;
    sample ``k`` is at ``start_s + k / sampling_rate`` on the recording's time axis."""

    name: str
    sampling_rate: float
    channels: tuple[Channel, ...]
    data: np.ndarray
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[0] != len(self.channels):
            raise ValueError(
                f"stream {self.name!r}: data of shape {self.data.shape} does not hold "
                f"{len(self.channels)} channels"
            )
        if not (np.isfinite(self.sampling_rate) and self.sampling_rate > 0):
            raise ValueError(f"stream {self.name!r}: sampling rate {self.sampling_rate!r} Hz")

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def end_s(self) -> float:
        """Time just after the last sample."""
        return self.start_s + self.n_samples / self.sampling_rate

    @property
    def missing(self) -> np.ndarray:
        """(channels, samples) bool: True where a sample is missing (NaN or infinite)."""
        return ~np.isfinite(self.data)


@dataclass(frozen=True)
class Marker:
    """An event or annotation: ``onset_s`` on the recording's time axis, ``duration_s``
    (``None`` when the file gives none) and its text."""

    onset_s: float
    duration_s: float | None
    text: str


@dataclass(frozen=True)
class Signals:
    """One modality's channels from one stream (see :meth:`Recording.eeg`)."""

    names: tuple[str, ...]
    sampling_rate: float
    data: np.ndarray  # (channels, samples) float64 µV, NaN where missing
    start_s: float
    stream: str

    @property
    def missing(self) -> np.ndarray:
        return ~np.isfinite(self.data)


@dataclass
class Recording:
    """What a reader returns; see the module docstring."""

    path: Path
    format: str  # "edf", "bdf", "brainflow" or "xdf"
    streams: tuple[Stream, ...]
    markers: tuple[Marker, ...] = ()
    start_time: datetime | None = None

    @property
    def start_s(self) -> float:
        return min((s.start_s for s in self.streams), default=0.0)

    @property
    def end_s(self) -> float:
        """End of the latest stream: the recording spans ``[start_s, end_s)``."""
        return max((s.end_s for s in self.streams), default=0.0)

    def channels(self, kind: ChannelKind | None = None) -> list[Channel]:
        """Every channel (of ``kind``), in stream then file order."""
        return [c for s in self.streams for c in s.channels if kind is None or c.kind == kind]

    def locate(self, name: str) -> tuple[int, int]:
        """``(stream index, channel index)`` of the channel called ``name`` (normalised,
        case-insensitive); :class:`ChannelNotFound` names the file and what it holds."""
        wanted = normalise_name(name).upper()
        hits = [
            (si, ci)
            for si, s in enumerate(self.streams)
            for ci, c in enumerate(s.channels)
            if c.name.upper() == wanted
        ]
        if not hits:
            raise ChannelNotFound(f"{self.path}: no channel {name!r}; it has {self._describe()}")
        if len(hits) > 1:
            raise RecordingError(f"{self.path}: {len(hits)} channels are called {name!r}")
        return hits[0]

    def eeg(self, names: Sequence[str] | None = None) -> Signals:
        """The EEG channels ``names`` (in that order), or every EEG channel found (file
        order) when ``None``. They must come from one stream (sampled together)."""
        if names is None:
            picked = self._of_kind("eeg")
            if not picked:
                raise ChannelNotFound(
                    f"{self.path}: no EEG channel found; it has {self._describe()}"
                )
        else:
            missing = []
            picked = []
            for name in names:
                try:
                    picked.append(self.locate(name))
                except ChannelNotFound:
                    missing.append(name)
            if missing:
                raise ChannelNotFound(
                    f"{self.path}: no channel for EEG electrode(s) {', '.join(missing)}; "
                    f"it has {self._describe()}"
                )
        return self._signals(picked, "EEG")

    def ecg(self, name: str | None = None) -> Signals:
        """The ECG channel ``name``, or the one channel of kind ``ecg`` when ``None``."""
        if name is not None:
            return self._signals([self.locate(name)], "ECG")
        found = self._of_kind("ecg")
        if not found:
            raise ChannelNotFound(f"{self.path}: no ECG channel found; it has {self._describe()}")
        if len(found) > 1:
            names = [self.streams[si].channels[ci].name for si, ci in found]
            raise RecordingError(
                f"{self.path}: several ECG channels ({', '.join(names)}); say which one"
            )
        return self._signals(found, "ECG")

    def _of_kind(self, kind: ChannelKind) -> list[tuple[int, int]]:
        return [
            (si, ci)
            for si, s in enumerate(self.streams)
            for ci, c in enumerate(s.channels)
            if c.kind == kind
        ]

    def _signals(self, picked: list[tuple[int, int]], what: str) -> Signals:
        streams = sorted({si for si, _ in picked})
        if len(streams) != 1:
            raise RecordingError(
                f"{self.path}: the {what} channels come from {len(streams)} streams "
                f"({', '.join(self.streams[i].name for i in streams)}); they must be sampled "
                "together"
            )
        s = self.streams[streams[0]]
        rows = [ci for _, ci in picked]
        for ci in rows:
            c = s.channels[ci]
            if c.unit != MICROVOLT:
                raise RecordingError(
                    f"{self.path}: channel {c.label!r} has unit {c.unit!r}, not a voltage; "
                    f"it cannot serve as {what}"
                )
        return Signals(
            names=tuple(s.channels[ci].name for ci in rows),
            sampling_rate=s.sampling_rate,
            data=s.data[rows],
            start_s=s.start_s,
            stream=s.name,
        )

    def _describe(self) -> str:
        parts = [
            f"{s.name} at {s.sampling_rate:g} Hz: "
            + ", ".join(f"{c.name}({c.kind})" for c in s.channels)
            for s in self.streams
        ]
        return "; ".join(parts) or "no channels"


def file_head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of ``path`` (to tell a file's format from its content)."""
    with open(path, "rb") as f:
        return f.read(n)


def channel_from_label(
    label: str,
    declared: str | None,
    default: ChannelKind,
    unit: str | None,
    where: str,
    default_unit: str | None,
) -> tuple[Channel, float]:
    """The channel and the factor from the file's unit to its unit after reading."""
    name, kind = classify_channel(label, declared, default)
    if kind in ("eeg", "ecg"):
        try:
            scale = scale_to_uv(unit, where, default_unit)
        except ValueError as exc:
            raise RecordingError(str(exc)) from None
        return Channel(name, label, kind, MICROVOLT), scale
    scale = uv_per_unit(unit or "")
    if scale is not None:
        return Channel(name, label, kind, MICROVOLT), scale
    return Channel(name, label, kind, (unit or "").strip()), 1.0
