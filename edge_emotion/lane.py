"""One modality's lane: board samples in, model-rate samples and block statistics out.

A :class:`Lane` keeps the board-rate samples still to be consumed in a queue of
:class:`Block` (delivered samples), :class:`Gap` (a short run of samples known lost: a
lost packet, a small jump in timestamps) and :class:`Break` (the stream broke: samples
lost for longer than ``max_fill_s``, or a resync after which continuity is unknown).
The classifier asks it to :meth:`~Lane.advance` to a number of model-rate samples; the
lane feeds exactly the board samples that needs through the streaming resampler and
into the per-hop block statistics, and stops in front of a :class:`Break`, which the
classifier turns into one ``GAP`` record and a restart. Nothing here allocates in
proportion to a count or a timestamp read from the wire: a gap is a number until its
samples are produced, one hop at a time, and a long one is never produced.

Missing samples (NaN/inf from the board, the samples of a :class:`Gap`) are filled
before they reach the filters (a NaN would poison their state for good) and counted,
so a window with too many of them abstains. ``fill="linear"`` (default) draws a straight
line from the last good sample before the run to the first one after it — a Gap is
always queued together with the block that follows it, so that sample is known (a
look-ahead of one sample); a NaN run at the very end of a chunk has no successor yet
and is held. ``fill="hold"`` repeats the last good sample (the behaviour before
linear filling; ``scripts/packet_loss.py`` measures both).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_emotion.kernels.blockstats import BlockStatistics
from edge_emotion.kernels.resample import StreamingResampler
from edge_emotion.lane_plan import LanePlan

FILLS = ("linear", "hold")
# A "gap" longer than this (s, ~32 years) is no measurement of lost time but a clock or
# counter gone wrong: it is a resync, of unknown length (and keeps data time finite).
MAX_GAP_S = 1e9


@dataclass
class Gap:
    """``n`` samples the source never delivered, noticed at host time ``arrival``; filled
    from ``start`` (the last value before them) towards ``end`` (the first after)."""

    n: int
    arrival: float
    start: np.ndarray
    end: np.ndarray
    done: int = 0

    def consume(self, take: int) -> None:
        self.n -= take
        self.done += take

    def values(self, take: int) -> np.ndarray:
        """The next ``take`` filled samples, (channels, take)."""
        total = self.n + self.done
        frac = (self.done + 1 + np.arange(take)) / (total + 1)
        return self.start[:, None] + (self.end - self.start)[:, None] * frac[None, :]


@dataclass
class Break:
    """The stream broke before the next queued samples: ``duration_s`` of data time lost
    (None for a resync, whose length is unknown), ``detail`` says how it was found."""

    duration_s: float | None
    detail: str
    arrival: float
    n: int = 0


@dataclass
class Block:
    """Delivered samples not yet consumed: ``values`` (missing ones filled), the
    ``missing`` mask, ``raw`` as delivered, ``timestamps`` (empty when the source gives
    none) and the host time of their ``arrival``."""

    values: np.ndarray
    missing: np.ndarray
    raw: np.ndarray
    timestamps: np.ndarray
    arrival: float

    @property
    def n(self) -> int:
        return self.values.shape[1]

    def consume(self, take: int) -> None:
        self.values = self.values[:, take:]
        self.missing = self.missing[:, take:]
        self.raw = self.raw[:, take:]
        if self.timestamps.size:
            self.timestamps = self.timestamps[take:]


def hold_missing(x: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-finite samples by the channel's previous finite one (``last`` before
    the chunk); return (values, missing mask) and update ``last`` in place."""
    missing = ~np.isfinite(x)
    if not missing.any():
        last[:] = x[:, -1]
        return x, missing
    n = x.shape[1]
    idx = np.where(missing, -1, np.arange(n)[None, :])
    np.maximum.accumulate(idx, axis=1, out=idx)
    ext = np.concatenate((last[:, None], x), axis=1)
    values = np.take_along_axis(ext, idx + 1, axis=1)
    last[:] = values[:, -1]
    return values, missing


def interpolate_missing(x: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`hold_missing`, but a run of non-finite samples followed by a finite
    one in the chunk is filled on the straight line from the sample before the run (or
    ``last``) to the one after it; a run at the end of the chunk is held."""
    missing = ~np.isfinite(x)
    if not missing.any():
        last[:] = x[:, -1]
        return x, missing
    values = np.array(x, dtype=np.float64)
    n = x.shape[1]
    pos = np.arange(-1, n, dtype=np.float64)
    for c in np.flatnonzero(missing.any(axis=1)):
        good = np.concatenate(([True], ~missing[c]))
        row = np.concatenate(([last[c]], values[c]))
        # np.interp holds the last known value past the final finite sample.
        values[c] = np.interp(pos[1:], pos[good], row[good])
    last[:] = values[:, -1]
    return values, missing


def first_finite(x: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Per channel, the first finite sample of ``x`` (channels, n), else ``default``."""
    ok = np.isfinite(x)
    if not x.shape[1]:
        return np.array(default, dtype=np.float64)
    values = x[np.arange(x.shape[0]), ok.argmax(axis=1)]
    return np.where(ok.any(axis=1), values, default)


class Lane:
    """One modality's path from board samples to model-rate samples and block stats.

    ``max_fill_s``: a gap up to this long (s) is filled in place (a :class:`Gap`); a
    longer one is a :class:`Break`. ``gap_tolerance_s``: a jump in timestamps up to this
    much beyond the expected next sample is jitter, not loss.
    """

    def __init__(
        self,
        plan: LanePlan,
        n_blocks: int,
        saturation_uv: float,
        max_fill_s: float = 0.5,
        fill: str = "linear",
        gap_tolerance_s: float = 0.5,
    ) -> None:
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
        self.plan = plan
        self.n_ch = len(plan.rows)
        self.n_blocks = n_blocks
        self.saturation_uv = saturation_uv
        self.max_fill_s = float(max_fill_s)
        self.fill = fill
        self.gap_tolerance_s = float(gap_tolerance_s)
        self.queue: deque[Block | Gap | Break] = deque()
        self.last_value = np.zeros(self.n_ch)
        self.last_ts: float | None = None  # timestamp of the newest sample enqueued
        self.last_ts_consumed: float | None = None  # ... and of the newest sample consumed
        self.last_arrival = 0.0
        self.skip = 0  # board samples to drop before the next restart's first sample
        self.restart()

    def restart(self) -> None:
        """New resampler, statistics and counts; the queue and the last values stay."""
        self.resampler = StreamingResampler(self.plan.fs_in, self.plan.fs_out, self.n_ch)
        self.stats = BlockStatistics(self.n_ch, self.n_blocks, self.saturation_uv)
        self.pending: list[np.ndarray] = []  # model-rate samples not yet taken
        self.pending_n = 0
        self.board_count = 0  # board samples consumed since the restart
        self.model_count = 0  # model samples handed to the extractor

    @property
    def produced(self) -> int:
        return self.model_count + self.pending_n

    @property
    def at_break(self) -> Break | None:
        """The :class:`Break` this lane waits in front of, if any."""
        head = self.queue[0] if self.queue else None
        return head if isinstance(head, Break) else None

    @property
    def data_time_s(self) -> float:
        """Board samples consumed since the restart, in seconds."""
        return self.board_count / self.plan.fs_in

    def enqueue(
        self,
        data: np.ndarray,
        timestamps: np.ndarray,
        lost: int,
        arrival: float,
        discontinuity: str | None = None,
    ) -> None:
        """Queue a chunk's rows for this lane, after what precedes it: the ``lost``
        samples, a jump in ``timestamps`` beyond the tolerance, or a ``discontinuity``
        (its description; the stream restarts there)."""
        fs = self.plan.fs_in
        brk = None
        gap_s = max(int(lost), 0) / fs
        why = f"{max(int(lost), 0)} samples lost" if lost > 0 else ""
        finite_ts = timestamps.size and math.isfinite(float(timestamps[0]))
        if discontinuity:
            brk = Break(None, discontinuity, arrival)
        elif finite_ts and self.last_ts is not None:
            jump = float(timestamps[0]) - (self.last_ts + 1.0 / fs)
            if not math.isfinite(jump):
                brk = Break(None, "the timestamps jumped out of range", arrival)
            elif jump < -self.gap_tolerance_s:
                brk = Break(None, f"the timestamps stepped back by {-jump:.3f} s", arrival)
            elif jump > self.gap_tolerance_s and jump > gap_s:
                gap_s = jump
                why = f"the timestamps jumped by {jump:.6g} s"
        if brk is None and gap_s > MAX_GAP_S:
            brk = Break(None, f"{why}, beyond any plausible gap", arrival)
        elif brk is None and gap_s > 0:
            if gap_s > self.max_fill_s:
                brk = Break(gap_s, why, arrival)
            else:
                n = max(1, round(gap_s * fs))
                end = first_finite(data, self.last_value)
                start = self.last_value.copy()
                self.queue.append(Gap(n, arrival, start, end if self.fill == "linear" else start))
        if brk is not None:
            self.queue.append(brk)
        if finite_ts:
            self.last_ts = float(timestamps[-1]) if math.isfinite(timestamps[-1]) else None
        if data.shape[1]:
            fill = interpolate_missing if self.fill == "linear" else hold_missing
            values, missing = fill(data, self.last_value)
            self.queue.append(Block(values, missing, data, timestamps, arrival))

    def discard_skipped(self) -> None:
        """Drop the board samples another lane's break made stale (``skip``), up to and
        including a break of this lane's own (the same outage seen on this stream)."""
        while self.skip > 0 and self.queue:
            item = self.queue[0]
            if isinstance(item, Break):
                self.queue.popleft()
                self.skip = 0
                return
            take = min(self.skip, item.n)
            if isinstance(item, Block) and item.timestamps.size:
                self.last_ts_consumed = float(item.timestamps[take - 1])
            if take == item.n:
                self.queue.popleft()
            else:
                item.consume(take)
            self.skip -= take

    def advance(self, m_target: int) -> bool:
        """Consume queued board samples until ``m_target`` model samples exist; True if
        they do. Stops in front of a :class:`Break` (see :attr:`at_break`)."""
        self.discard_skipped()
        while self.produced < m_target and self.queue and not self.skip:
            item = self.queue[0]
            if isinstance(item, Break):
                break
            need = self.resampler.inputs_for(m_target) - self.board_count
            take = min(need, item.n)
            if isinstance(item, Gap):
                values = item.values(take)
                missing = np.ones(values.shape, dtype=bool)
                raw = values
            else:
                values = item.values[:, :take]
                missing = item.missing[:, :take]
                raw = item.raw[:, :take]
                if item.timestamps.size:
                    self.last_ts_consumed = float(item.timestamps[take - 1])
            self.last_arrival = item.arrival
            if take == item.n:
                self.queue.popleft()
            else:
                item.consume(take)
            out = self.resampler.process(values)
            if out.shape[1]:
                self.pending.append(out)
                self.pending_n += out.shape[1]
            self.stats.add(values, missing, raw)
            self.board_count += take
        return self.produced >= m_target

    def take(self, m_target: int) -> np.ndarray:
        """Pop the model-rate samples up to ``m_target`` (total) for the extractor."""
        n = m_target - self.model_count
        data = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending, axis=1)
        out, rest = data[:, :n], data[:, n:]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_n = rest.shape[1]
        self.model_count = m_target
        return out

    def restart_count(self) -> None:
        """The feature extractor restarted: count its model samples from zero again."""
        self.model_count = 0
