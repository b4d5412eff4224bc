"""Signal-quality checks for one classification window.

Statistics are accumulated per hop-sized block as samples arrive (count, mean and
centred sum of squares by Welford's update, B. P. Welford, Technometrics 4(3), 1962;
blocks combined with the pairwise formula of Chan, Golub & LeVeque, "Algorithms for
computing the sample variance", 1983), so assessing a 10 s window
costs a sum over 40 small blocks rather than a pass over the raw samples.

Checks: missing samples (NaN/inf from the board, or gaps filled after a disconnect),
flat lines (lead-off, a dead channel: the window, or more than ``max_flat_fraction`` of
its hop blocks, with a standard deviation under ``flat_std_uv``), saturation (the
amplifier at its rail), and for ECG an implausible heart rate or too few beats in the
window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from edge_emotion.ringbuffer import RingBuffer


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the window checks (µV, bpm, fractions of the window's samples).

    ``saturation_uv`` defaults to the rail of an OpenBCI Cyton at gain 24 (±187.5 mV);
    set it to your amplifier's input range.
    """

    max_missing_fraction: float = 0.02
    flat_std_uv: float = 0.5
    max_flat_fraction: float = 0.1
    saturation_uv: float = 187_000.0
    max_saturated_fraction: float = 0.01
    min_heart_rate_bpm: float = 35.0
    max_heart_rate_bpm: float = 200.0
    min_beats: int = 5

    def __post_init__(self) -> None:
        for name in ("max_missing_fraction", "max_saturated_fraction", "max_flat_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {v!r}")
        for name in ("flat_std_uv", "saturation_uv", "min_heart_rate_bpm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not self.max_heart_rate_bpm > self.min_heart_rate_bpm:
            raise ValueError("max_heart_rate_bpm must exceed min_heart_rate_bpm")
        if self.min_beats < 1:
            raise ValueError(f"min_beats must be at least 1, got {self.min_beats!r}")


@dataclass
class ModalityQuality:
    """The verdict on one modality's window; ``reasons`` is empty when ``ok``."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    missing_fraction: float = 0.0
    flat_channels: list[str] = field(default_factory=list)
    saturated_channels: list[str] = field(default_factory=list)
    heart_rate_bpm: float | None = None
    n_beats: int | None = None

    def to_dict(self) -> dict:
        d = {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "missing_fraction": round(self.missing_fraction, 4),
            "flat_channels": list(self.flat_channels),
            "saturated_channels": list(self.saturated_channels),
        }
        if self.heart_rate_bpm is not None:
            d["heart_rate_bpm"] = round(self.heart_rate_bpm, 1)
        if self.n_beats is not None:
            d["n_beats"] = self.n_beats
        return d


@njit(cache=True)
def _accumulate(values, missing, raw, rail, block):
    # Welford's update per sample into the open block (rows: n, mean, M2, missing, railed);
    # NaN in ``raw`` compares False against the rail, so it is not counted as saturated.
    n_ch, n = values.shape
    for c in range(n_ch):
        cnt = block[0, c]
        mean = block[1, c]
        m2 = block[2, c]
        miss = 0
        sat = 0
        for i in range(n):
            x = values[c, i]
            cnt += 1.0
            d = x - mean
            mean += d / cnt
            m2 += d * (x - mean)
            if missing[c, i]:
                miss += 1
            if abs(raw[c, i]) >= rail:
                sat += 1
        block[0, c] = cnt
        block[1, c] = mean
        block[2, c] = m2
        block[3, c] += miss
        block[4, c] += sat


class WindowStats:
    """Per-channel running statistics of the last ``n_blocks`` blocks of a stream.

    ``add(values, missing)`` accumulates samples into the open block; ``close_block()``
    ends it (call it at every hop); ``window()`` combines the closed blocks.
    ``values`` are the samples as fed onward (missing ones already replaced);
    ``raw_abs_max`` marks saturation from the values the board delivered.
    """

    def __init__(self, n_channels: int, n_blocks: int, saturation_uv: float) -> None:
        self.n_channels = int(n_channels)
        self.n_blocks = int(n_blocks)
        self.saturation_uv = float(saturation_uv)
        # rows: count, mean, M2, missing, saturated — one row block per channel.
        self._blocks = RingBuffer(5 * self.n_channels, self.n_blocks)
        self._open = np.zeros((5, self.n_channels))

    def reset(self) -> None:
        self._blocks.clear()
        self._open[:] = 0.0

    def add(self, values: np.ndarray, missing: np.ndarray, raw: np.ndarray) -> None:
        if values.shape[1]:
            _accumulate(
                np.ascontiguousarray(values, dtype=np.float64),
                np.ascontiguousarray(missing, dtype=np.bool_),
                np.ascontiguousarray(raw, dtype=np.float64),
                self.saturation_uv,
                self._open,
            )

    def close_block(self) -> None:
        self._blocks.push(self._open.reshape(-1, 1))
        self._open[:] = 0.0

    def window(self, flat_std_uv: float = 0.0) -> dict[str, np.ndarray]:
        """Per-channel ``count``, ``std``, ``missing`` and ``saturated`` over the closed
        blocks, and ``flat_fraction``: the share of blocks whose standard deviation is
        under ``flat_std_uv`` (µV)."""
        out = np.empty((5, self.n_channels))
        _combine(self._blocks.latest(), self.n_channels, float(flat_std_uv), out)
        return {
            "count": out[0],
            "std": out[1],
            "missing": out[2],
            "saturated": out[3],
            "flat_fraction": out[4],
        }


@njit(cache=True)
def _combine(blocks, n_ch, flat_std, out):
    # blocks rows: [count, mean, M2, missing, railed] x channels; columns: blocks.
    nb = blocks.shape[1]
    for c in range(n_ch):
        total = 0.0
        s = 0.0
        for j in range(nb):
            total += blocks[c, j]
            s += blocks[c, j] * blocks[n_ch + c, j]
        safe = max(total, 1.0)
        mean = s / safe
        m2 = 0.0
        miss = 0.0
        sat = 0.0
        flat = 0
        for j in range(nb):
            n = blocks[c, j]
            d = blocks[n_ch + c, j] - mean
            m2 += blocks[2 * n_ch + c, j] + n * d * d
            miss += blocks[3 * n_ch + c, j]
            sat += blocks[4 * n_ch + c, j]
            if n > 0 and np.sqrt(max(blocks[2 * n_ch + c, j], 0.0) / n) < flat_std:
                flat += 1
        out[0, c] = total
        out[1, c] = np.sqrt(max(m2, 0.0) / safe)
        out[2, c] = miss
        out[3, c] = sat
        out[4, c] = flat / nb if nb else 0.0


def assess_signal(
    stats: dict[str, np.ndarray], names: list[str], config: QualityConfig
) -> ModalityQuality:
    """Missing, flat and saturated checks on one modality's window statistics."""
    count = np.maximum(stats["count"], 1.0)
    missing = float((stats["missing"] / count).max())
    q = ModalityQuality(ok=True, missing_fraction=missing)
    if missing > config.max_missing_fraction:
        q.reasons.append(f"{100 * missing:.0f}% samples missing")
    # A lead that comes off mid-window leaves flat blocks before the whole window is flat.
    flat_frac = stats.get("flat_fraction")
    bad_flat = stats["std"] < config.flat_std_uv
    if flat_frac is not None:
        bad_flat |= flat_frac > config.max_flat_fraction
    bad_sat = stats["saturated"] / count > config.max_saturated_fraction
    flat = [nm for nm, b in zip(names, bad_flat, strict=True) if b] if bad_flat.any() else []
    if flat:
        q.flat_channels = flat
        q.reasons.append(f"flat/lead-off: {','.join(flat)}")
    sat = [nm for nm, b in zip(names, bad_sat, strict=True) if b] if bad_sat.any() else []
    if sat:
        q.saturated_channels = sat
        q.reasons.append(f"saturated: {','.join(sat)}")
    q.ok = not q.reasons
    return q


def assess_heart(rr_s: np.ndarray, quality: ModalityQuality, config: QualityConfig) -> None:
    """Add heart-rate plausibility to an ECG verdict, from the window's RR series (s).

    The HRV feature is zero-embedded, so only positive entries are beats.
    """
    rr = rr_s[rr_s > 0]
    quality.n_beats = int(rr.size)
    if rr.size:
        quality.heart_rate_bpm = float(60.0 / rr.mean())
    if rr.size < config.min_beats:
        quality.reasons.append(f"too few beats ({rr.size} < {config.min_beats})")
    elif not (config.min_heart_rate_bpm <= quality.heart_rate_bpm <= config.max_heart_rate_bpm):
        quality.reasons.append(f"implausible heart rate {quality.heart_rate_bpm:.0f} bpm")
    quality.ok = not quality.reasons
