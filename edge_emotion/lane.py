"""One modality's lane: board samples in, model-rate samples and block statistics out.

A :class:`Lane` keeps the board-rate samples still to be consumed in a queue of
:class:`Block` (delivered samples) and :class:`Gap` (samples known lost: a lost packet,
a jump in timestamps after a reconnect; produced lazily as held, missing samples, so a
long disconnect costs no memory). The classifier asks it to :meth:`~Lane.advance` to a
number of model-rate samples; the lane feeds exactly the board samples that needs
through the streaming resampler and into the per-hop block statistics.

Missing samples (NaN/inf from the board, gaps) are replaced by the channel's last good
value before they reach the filters (a NaN would poison their state for good) and
counted, so the windows that contain them abstain.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_emotion.kernels.blockstats import BlockStatistics
from edge_emotion.kernels.resample import StreamingResampler
from edge_emotion.lane_plan import LanePlan


@dataclass
class Gap:
    """``n`` samples the source never delivered, noticed at host time ``arrival``."""

    n: int
    arrival: float

    def consume(self, take: int) -> None:
        self.n -= take


@dataclass
class Block:
    """Delivered samples not yet consumed: ``values`` (missing ones held), the ``missing``
    mask, ``raw`` as delivered, ``timestamps`` (empty when the source gives none) and the
    host time of their ``arrival``."""

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


class Lane:
    """One modality's path from board samples to model-rate samples and block stats."""

    def __init__(self, plan: LanePlan, n_blocks: int, saturation_uv: float) -> None:
        self.plan = plan
        self.n_ch = len(plan.rows)
        self.resampler = StreamingResampler(plan.fs_in, plan.fs_out, self.n_ch)
        self.stats = BlockStatistics(self.n_ch, n_blocks, saturation_uv)
        self.queue: deque[Block | Gap] = deque()
        self.pending: list[np.ndarray] = []  # model-rate samples not yet taken
        self.pending_n = 0
        self.last_value = np.zeros(self.n_ch)
        self.last_ts: float | None = None  # timestamp of the newest sample enqueued
        self.last_ts_consumed: float | None = None  # ... and of the newest sample consumed
        self.last_arrival = 0.0
        self.board_count = 0  # board samples consumed
        self.model_count = 0  # model samples handed to the extractor

    @property
    def produced(self) -> int:
        return self.model_count + self.pending_n

    def enqueue(
        self,
        data: np.ndarray,
        timestamps: np.ndarray,
        lost: int,
        arrival: float,
        gap_tolerance_s: float,
    ) -> None:
        """Queue a chunk's rows for this lane, after a :class:`Gap` of the ``lost`` samples
        and of any jump in ``timestamps`` beyond ``gap_tolerance_s`` (s)."""
        fs = self.plan.fs_in
        if timestamps.size and self.last_ts is not None:
            expected = self.last_ts + 1.0 / fs
            jump = float(timestamps[0]) - expected
            if jump > gap_tolerance_s:
                lost += round(jump * fs)
        if lost > 0:
            self.queue.append(Gap(int(lost), arrival))
        if data.shape[1]:
            values, missing = hold_missing(data, self.last_value)
            self.queue.append(Block(values, missing, data, timestamps, arrival))
            if timestamps.size:
                self.last_ts = float(timestamps[-1])

    def advance(self, m_target: int) -> bool:
        """Consume queued board samples until ``m_target`` model samples exist; True if
        they do."""
        while self.produced < m_target and self.queue:
            item = self.queue[0]
            need = self.resampler.inputs_for(m_target) - self.board_count
            take = min(need, item.n)
            if isinstance(item, Gap):
                values = np.repeat(self.last_value[:, None], take, axis=1)
                missing = np.ones_like(values, dtype=bool)
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
