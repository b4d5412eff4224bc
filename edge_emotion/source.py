"""The interface every signal source offers the runtime.

A source (a BrainFlow board, the firmware bridge, a recording) delivers chunks of
samples in physical units with timestamps, one stream per sampling rate. The runtime
knows nothing else about where samples come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

ChannelRole = Literal["eeg", "ecg", "other"]


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of a stream: its name (e.g. ``"AF3"``), role and physical unit."""

    name: str
    role: ChannelRole
    unit: str = "uV"


@dataclass(frozen=True)
class StreamInfo:
    """A group of channels sampled together at one rate (Hz)."""

    sampling_rate: float
    channels: tuple[ChannelInfo, ...]

    def names(self, role: ChannelRole | None = None) -> list[str]:
        return [c.name for c in self.channels if role is None or c.role == role]


@dataclass
class Chunk:
    """Samples newly arrived on one stream.

    ``data`` has shape (channels, samples) in the channels' physical units;
    ``timestamps`` (samples,) are seconds on the source's clock; ``lost_samples`` counts
    samples known to be missing *before* this chunk (e.g. from a sequence gap).
    ``meta`` may carry ``discontinuity`` (True: continuity with the previous chunk is
    unknown, e.g. a device's sample index jumped impossibly far; the runtime restarts
    the stream with one ``GAP`` record) and ``markers``, a list of ``(timestamp, text)``
    events of a marker stream that arrived with the chunk.
    """

    stream: int
    data: np.ndarray
    timestamps: np.ndarray
    lost_samples: int = 0
    meta: dict = field(default_factory=dict)


class SourceError(RuntimeError):
    """A source failed (disconnect, device error). The runtime retries with back-off
    once the stream has started; a first connection that fails ends the run."""


class FatalSourceError(SourceError):
    """A source failed in a way no retry can fix (e.g. a device describing itself with
    an invalid configuration): the run stops at once and exits non-zero."""


class SourceExhausted(SourceError):
    """A recording reached its end (not an error: the run stops)."""


@runtime_checkable
class Source(Protocol):
    """A stream of chunks. ``start`` returns the streams; ``read`` never blocks long."""

    def start(self) -> tuple[StreamInfo, ...]: ...

    def read(self, timeout_s: float = 0.1) -> list[Chunk]: ...

    def stop(self) -> None: ...


# Physical units -> µV per unit, as file headers and LSL stream descriptions write them.
# Keys are lower case; "µ" (U+00B5) and "μ" (U+03BC) both.
_UV_PER_UNIT = {
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
    "mv": 1e3,
    "millivolt": 1e3,
    "millivolts": 1e3,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "mcv": 1.0,
    "microvolt": 1.0,
    "microvolts": 1.0,
    "nv": 1e-3,
    "nanovolt": 1e-3,
    "nanovolts": 1e-3,
}


def uv_per_unit(unit: str) -> float | None:
    """µV per ``unit`` (``"mV"`` -> 1000.0); ``None`` when ``unit`` is not a voltage this
    module knows. Case and surrounding space are ignored."""
    if not isinstance(unit, str):
        return None
    return _UV_PER_UNIT.get(unit.strip().lower())
