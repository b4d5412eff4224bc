"""Signal-quality checks for one classification window.

They read the window's per-channel statistics, accumulated per hop-sized block as
samples arrive (:class:`edge_emotion.kernels.blockstats.BlockStatistics`). Checks:
missing samples (NaN/inf from the board, or gaps filled after a disconnect), flat lines
(lead-off, a dead channel: the window, or more than ``max_flat_fraction`` of its hop
blocks, with a standard deviation under ``flat_std_uv``), saturation (the amplifier at
its rail), and for ECG an implausible heart rate or too few beats in the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_emotion.kernels.blockstats import WindowStatistics


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


def assess_signal(
    stats: WindowStatistics, names: list[str], config: QualityConfig
) -> ModalityQuality:
    """Missing, flat and saturated checks on one modality's window statistics (the flat
    fraction taken with ``config.flat_std_uv``)."""
    count = np.maximum(stats.count, 1.0)
    missing = float((stats.missing / count).max())
    q = ModalityQuality(ok=True, missing_fraction=missing)
    if missing > config.max_missing_fraction:
        q.reasons.append(f"{100 * missing:.0f}% samples missing")
    # A lead that comes off mid-window leaves flat blocks before the whole window is flat.
    bad_flat = (stats.std < config.flat_std_uv) | (stats.flat_fraction > config.max_flat_fraction)
    bad_sat = stats.saturated / count > config.max_saturated_fraction
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
