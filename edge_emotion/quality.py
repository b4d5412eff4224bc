"""Signal-quality checks for one classification window.

They read the window's per-channel statistics, accumulated per hop-sized block as
samples arrive (:class:`edge_emotion.kernels.blockstats.BlockStatistics`). Checks:
missing samples (NaN/inf from the board, or gaps filled after a disconnect), flat lines
(lead-off, a dead channel: the window, or more than ``max_flat_fraction`` of its hop
blocks, with a standard deviation under ``flat_std_uv``), saturation (the amplifier at
its rail), and for ECG an implausible heart rate, too few beats in the window, or too many
RR intervals corrected as artefacts (spurious or missed R-peaks of a noisy ECG).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from edge_emotion.decision import AbstainReason, dominant_reason
from edge_emotion.kernels.blockstats import WindowStatistics


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the window checks (µV, bpm, fractions of the window's samples).

    ``saturation_uv`` defaults to the rail of an OpenBCI Cyton at gain 24 (±187.5 mV);
    set it to your amplifier's input range. ``max_missing_fraction`` (10 %) comes from
    ``scripts/packet_loss.py``: up to that share of missing (linearly filled) samples the
    decisions kept ≥ 80 % agreement with a loss-free run (README, "Packet loss").
    ``max_artefact_fraction`` (30 %): on PhysioNet eegmat, the three recordings whose ECG
    is unusable have 51–72 % of their RR intervals corrected on average (88–100 % of their
    windows above 30 %), the 45 others at most 4 % (no window of 42 of them above 30 %;
    README, "Real data: eegmat").
    """

    max_missing_fraction: float = 0.1
    flat_std_uv: float = 0.5
    max_flat_fraction: float = 0.1
    saturation_uv: float = 187_000.0
    max_saturated_fraction: float = 0.01
    min_heart_rate_bpm: float = 35.0
    max_heart_rate_bpm: float = 200.0
    min_beats: int = 5
    max_artefact_fraction: float = 0.3

    def __post_init__(self) -> None:
        for name in (
            "max_missing_fraction",
            "max_saturated_fraction",
            "max_flat_fraction",
            "max_artefact_fraction",
        ):
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


class QualityProblem(NamedTuple):
    """One failed check: its code and the words a person reads."""

    reason: AbstainReason
    text: str


@dataclass
class ModalityQuality:
    """The verdict on one modality's window: ``ok`` when no check found a problem."""

    missing_fraction: float = 0.0
    flat_channels: list[str] = field(default_factory=list)
    saturated_channels: list[str] = field(default_factory=list)
    heart_rate_bpm: float | None = None
    n_beats: int | None = None
    problems: list[QualityProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reasons(self) -> list[str]:
        return [p.text for p in self.problems]

    def add(self, reason: AbstainReason, text: str) -> None:
        self.problems.append(QualityProblem(reason, text))

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


def missing_fraction(stats: WindowStatistics) -> float:
    """The window's share of missing samples on its worst channel (0 for no samples)."""
    return float((stats.missing / np.maximum(stats.count, 1.0)).max())


def assess_signal(
    stats: WindowStatistics, names: list[str], config: QualityConfig
) -> ModalityQuality:
    """Missing, flat and saturated checks on one modality's window statistics (the flat
    fraction taken with ``config.flat_std_uv``)."""
    count = np.maximum(stats.count, 1.0)
    missing = missing_fraction(stats)
    q = ModalityQuality(missing_fraction=missing)
    if missing > config.max_missing_fraction:
        q.add(AbstainReason.SAMPLES_MISSING, f"{100 * missing:.0f}% samples missing")
    # A lead that comes off mid-window leaves flat blocks before the whole window is flat.
    bad_flat = (stats.std < config.flat_std_uv) | (stats.flat_fraction > config.max_flat_fraction)
    bad_sat = stats.saturated / count > config.max_saturated_fraction
    flat = [nm for nm, b in zip(names, bad_flat, strict=True) if b] if bad_flat.any() else []
    if flat:
        q.flat_channels = flat
        q.add(AbstainReason.LEAD_OFF, f"flat/lead-off: {','.join(flat)}")
    sat = [nm for nm, b in zip(names, bad_sat, strict=True) if b] if bad_sat.any() else []
    if sat:
        q.saturated_channels = sat
        q.add(AbstainReason.SATURATED, f"saturated: {','.join(sat)}")
    return q


def assess_heart(
    rr_s: np.ndarray,
    quality: ModalityQuality,
    config: QualityConfig,
    n_artefacts: int | None = None,
) -> None:
    """Add heart-rate plausibility to an ECG verdict, from the window's RR series (s) and,
    when given, the number of its intervals the artefact correction replaced
    (``StreamingFeatureExtractor.n_artefacts``).

    The HRV feature is zero-embedded, so only positive entries are beats.
    """
    rr = rr_s[rr_s > 0]
    quality.n_beats = int(rr.size)
    if rr.size:
        quality.heart_rate_bpm = float(60.0 / rr.mean())
    share = (n_artefacts or 0) / max(int(rr.size), 1)
    if rr.size < config.min_beats:
        quality.add(AbstainReason.TOO_FEW_BEATS, f"too few beats ({rr.size} < {config.min_beats})")
    elif share > config.max_artefact_fraction:
        quality.add(
            AbstainReason.BEATS_UNRELIABLE,
            f"{100 * share:.0f}% of RR intervals corrected as artefacts "
            f"(> {100 * config.max_artefact_fraction:.0f}%)",
        )
    elif not (config.min_heart_rate_bpm <= quality.heart_rate_bpm <= config.max_heart_rate_bpm):
        quality.add(
            AbstainReason.HEART_RATE_IMPLAUSIBLE,
            f"implausible heart rate {quality.heart_rate_bpm:.0f} bpm",
        )


def assess_features(
    de_map: np.ndarray | None, hrv: np.ndarray | None, qualities: Mapping[str, ModalityQuality]
) -> None:
    """Mark a modality whose features came out NaN/inf (the engine refuses them); a
    modality the bundle does not take (``None``, no verdict) is skipped."""
    if de_map is not None and "eeg" in qualities and not np.isfinite(de_map).all():
        qualities["eeg"].add(AbstainReason.NON_FINITE_FEATURES, "non-finite EEG features")
    if hrv is not None and "ecg" in qualities and not np.isfinite(hrv).all():
        qualities["ecg"].add(AbstainReason.NON_FINITE_FEATURES, "non-finite HRV features")


def abstention(qualities: Mapping[str, ModalityQuality]) -> tuple[AbstainReason, str]:
    """The code and detail of a window that abstains because of its bad modalities.

    The code is the first problem found (in either modality) by the order of
    :data:`edge_emotion.decision.QUALITY_PRECEDENCE`; the detail lists every problem,
    e.g. ``"eeg bad: 5% samples missing, flat/lead-off: O1; ecg bad: too few beats (3 < 5)"``.
    """
    bad = {m: q for m, q in qualities.items() if not q.ok}
    if not bad:
        raise ValueError("abstention() needs at least one modality that failed its checks")
    reason = dominant_reason(p.reason for q in bad.values() for p in q.problems)
    return reason, "; ".join(f"{m} bad: {', '.join(q.reasons)}" for m, q in bad.items())
