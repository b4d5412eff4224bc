"""Signal-quality checks for one classification window.

Statistics are accumulated per hop-sized block as samples arrive (count, mean and
centred sum of squares combined with the pairwise formula of Chan, Golub & LeVeque,
"Algorithms for computing the sample variance", 1983), so assessing a 10 s window
costs a sum over 40 small blocks rather than a pass over the raw samples.

Checks: missing samples (NaN/inf from the board, or gaps filled after a disconnect),
flat lines (lead-off, a dead channel), saturation (the amplifier at its rail), and for
ECG an implausible heart rate or too few beats in the window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edge_emotion.ringbuffer import RingBuffer


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the window checks (µV, bpm, fractions of the window's samples).

    ``saturation_uv`` defaults to the rail of an OpenBCI Cyton at gain 24 (±187.5 mV);
    set it to your amplifier's input range.
    """

    max_missing_fraction: float = 0.02
    flat_std_uv: float = 0.5
    saturation_uv: float = 187_000.0
    max_saturated_fraction: float = 0.01
    min_heart_rate_bpm: float = 35.0
    max_heart_rate_bpm: float = 200.0
    min_beats: int = 5

    def __post_init__(self) -> None:
        for name in ("max_missing_fraction", "max_saturated_fraction"):
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
        d = asdict(self)
        if d["heart_rate_bpm"] is not None:
            d["heart_rate_bpm"] = round(d["heart_rate_bpm"], 1)
        d["missing_fraction"] = round(d["missing_fraction"], 4)
        return {k: v for k, v in d.items() if v is not None}


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
        n = values.shape[1]
        if n == 0:
            return
        o = self._open
        mean_b = values.mean(axis=1)
        m2_b = ((values - mean_b[:, None]) ** 2).sum(axis=1)
        n_a = o[0]
        tot = n_a + n
        delta = mean_b - o[1]
        o[1] += delta * (n / tot)
        o[2] += m2_b + delta * delta * (n_a * n / tot)
        o[0] = tot
        o[3] += missing.sum(axis=1)
        with np.errstate(invalid="ignore"):
            o[4] += (np.abs(raw) >= self.saturation_uv).sum(axis=1)

    def close_block(self) -> None:
        self._blocks.push(self._open.reshape(-1, 1))
        self._open[:] = 0.0

    def window(self) -> dict[str, np.ndarray]:
        """Per-channel ``count``, ``std``, ``missing`` and ``saturated`` over the closed blocks."""
        b = self._blocks.latest().reshape(5, self.n_channels, -1)
        n = b[0]
        total = n.sum(axis=1)
        safe = np.maximum(total, 1.0)
        mean = (n * b[1]).sum(axis=1) / safe
        m2 = b[2].sum(axis=1) + (n * (b[1] - mean[:, None]) ** 2).sum(axis=1)
        return {
            "count": total,
            "std": np.sqrt(np.maximum(m2, 0.0) / safe),
            "missing": b[3].sum(axis=1),
            "saturated": b[4].sum(axis=1),
        }


def assess_signal(
    stats: dict[str, np.ndarray], names: list[str], config: QualityConfig
) -> ModalityQuality:
    """Missing, flat and saturated checks on one modality's window statistics."""
    count = np.maximum(stats["count"], 1.0)
    missing = float((stats["missing"] / count).max())
    q = ModalityQuality(ok=True, missing_fraction=missing)
    if missing > config.max_missing_fraction:
        q.reasons.append(f"{100 * missing:.0f}% samples missing")
    flat = [nm for nm, s in zip(names, stats["std"], strict=True) if s < config.flat_std_uv]
    if flat:
        q.flat_channels = flat
        q.reasons.append(f"flat/lead-off: {','.join(flat)}")
    sat = [
        nm
        for nm, s, c in zip(names, stats["saturated"], count, strict=True)
        if s / c > config.max_saturated_fraction
    ]
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
