"""The Decision record: what the runtime concluded about one window, or why it abstained.

Every hop yields exactly one record, built once (frozen). Fields (JSON names in
``to_dict``):

- ``hop``: index of the hop since the run started; ``time_unix``: host clock (s) when
  the record was made; ``window_end_s``: end of the window on the data clock (s since the
  first sample); ``window_end_ts``: the source's timestamp (s) of the newest sample.
- ``probabilities`` / ``labels``: per target (``arousal``, ``valence``) P(high) and
  ``"high"``/``"low"`` against the bundle's thresholds; ``null`` when abstained.
- ``reason`` (:class:`AbstainReason`) and ``detail``: why the window was not classified —
  JSON ``reason_code`` ``{"name", "number"}`` (the number is the DECISION frame's byte,
  firmware_bridge/PROTOCOL.md) and ``reason``, the readable detail (every problem found);
  ``abstained`` is ``reason != NONE``. ``modalities``: the modalities the decision used;
  ``policy``: what the run does when one modality is bad (``abstain`` or ``fallback``);
  ``model``: which model decided, ``"main"`` (the bundle's) or ``"fallback:eeg"`` /
  ``"fallback:ecg"`` (its single-modality fallback, when the other modality was bad);
  ``null`` on an abstention.
- ``quality``: per modality verdict (:class:`edge_emotion.quality.ModalityQuality`).
- ``missing_fraction``: the window's share of missing samples (lost, NaN, filled), the
  worst channel of either modality; on every record, warm-up included (1.0 for a gap),
  so a reader can apply a threshold of its own.
- ``gap_s``: on a ``GAP`` record, how long the stream was broken (s of data time;
  ``null`` for a resync, whose length is unknown); ``null`` otherwise.
- ``markers``: ``[timestamp, text]`` events of a marker stream (e.g. LSL) that arrived
  during the hop.
- ``latency_ms``: ``features`` (streaming kernels), ``quality``, ``inference`` (engine)
  and ``total`` (from the arrival of the newest sample to the record).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

MODEL_MAIN = "main"  # Decision.model of a window the bundle's own model decided
FALLBACK_PREFIX = "fallback:"  # + modality: decided by that single-modality fallback


class AbstainReason(IntEnum):
    """Why a window was not classified: one member per cause the runtime reports.

    The values are the ``reason`` byte of the firmware bridge's DECISION frame (PROTOCOL.md
    §3.3, ``enum eb_reason`` in ebridge.h). 1 and 255 are kept for the wire: hosts before
    this table sent 1 for every signal-quality problem; this runtime sends neither.
    """

    NONE = 0  # classified
    SIGNAL_QUALITY = 1  # a signal-quality problem, cause not told (older hosts)
    LEAD_OFF = 2  # a channel flat for the window or for part of it: electrode off, dead input
    NOT_ENOUGH_DATA = 3  # warming up: less than one window of data since the (re)start
    MODEL_ERROR = 4  # the engine raised
    SAMPLES_MISSING = 5  # NaN/inf from the board, lost packets, a disconnect
    SATURATED = 6  # samples at the amplifier's rail
    NON_FINITE_FEATURES = 7  # the features of a modality came out NaN/inf
    HEART_RATE_IMPLAUSIBLE = 8  # mean heart rate of the window outside the plausible range
    TOO_FEW_BEATS = 9  # fewer R-peaks in the window than the check needs
    FEATURES_FAILED = 10  # the feature computation raised
    INVALID_OUTPUT = 11  # the engine's probabilities had the wrong size or were not finite
    GAP = 12  # the stream broke: a long gap or a resync; one record, then the filters restart
    BEATS_UNRELIABLE = 13  # too many of the window's RR intervals were corrected as artefacts
    OTHER = 255  # anything else (not sent by this runtime)

    @property
    def label(self) -> str:
        """A few words for a person (summaries, logs)."""
        return _LABELS[self]


_LABELS = {
    AbstainReason.NONE: "classified",
    AbstainReason.SIGNAL_QUALITY: "signal quality",
    AbstainReason.LEAD_OFF: "lead off/flat",
    AbstainReason.NOT_ENOUGH_DATA: "warming up",
    AbstainReason.MODEL_ERROR: "inference failed",
    AbstainReason.SAMPLES_MISSING: "samples missing",
    AbstainReason.SATURATED: "saturated",
    AbstainReason.NON_FINITE_FEATURES: "non-finite features",
    AbstainReason.HEART_RATE_IMPLAUSIBLE: "implausible heart rate",
    AbstainReason.TOO_FEW_BEATS: "too few beats",
    AbstainReason.FEATURES_FAILED: "features failed",
    AbstainReason.INVALID_OUTPUT: "invalid model output",
    AbstainReason.GAP: "gap in the stream",
    AbstainReason.BEATS_UNRELIABLE: "unreliable beats",
    AbstainReason.OTHER: "other",
}

# When a window has several signal problems (in one modality or both) its code is the
# first of these; the detail text lists them all. Each is ordered before the symptoms it
# causes: missing samples are held at the last value and an input at its rail sits at a
# constant, so both also look flat; a lead off leaves no beats to count; spurious or
# missed R-peaks (artefacts) give an implausible rate.
QUALITY_PRECEDENCE = (
    AbstainReason.SAMPLES_MISSING,
    AbstainReason.SATURATED,
    AbstainReason.LEAD_OFF,
    AbstainReason.NON_FINITE_FEATURES,
    AbstainReason.BEATS_UNRELIABLE,
    AbstainReason.HEART_RATE_IMPLAUSIBLE,
    AbstainReason.TOO_FEW_BEATS,
)


def dominant_reason(reasons: Iterable[AbstainReason]) -> AbstainReason:
    """The reason that names a window with all of ``reasons`` (see ``QUALITY_PRECEDENCE``;
    a reason outside it ranks after those in it)."""
    found = set(reasons)
    if not found:
        raise ValueError("dominant_reason needs at least one reason")
    rank = {r: i for i, r in enumerate(QUALITY_PRECEDENCE)}
    return min(found, key=lambda r: (rank.get(r, len(rank)), r.value))


@dataclass(frozen=True)
class Decision:
    hop: int
    window_end_s: float
    window_end_ts: float | None = None
    probabilities: Mapping[str, float] | None = None
    labels: Mapping[str, str] | None = None
    reason: AbstainReason = AbstainReason.NONE
    detail: str | None = None
    modalities: tuple[str, ...] = ()
    policy: str = "abstain"
    model: str | None = None
    quality: Mapping[str, dict] = field(default_factory=dict)
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    backend: str = ""
    missing_fraction: float = 0.0
    gap_s: float | None = None
    markers: tuple[tuple[float, str], ...] = ()
    time_unix: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", AbstainReason(self.reason))
        object.__setattr__(self, "modalities", tuple(self.modalities))
        object.__setattr__(self, "markers", tuple((float(t), str(m)) for t, m in self.markers))
        if self.abstained:
            if self.probabilities is not None or self.labels is not None:
                raise ValueError(
                    f"an abstention ({self.reason.name}) carries no probabilities or labels"
                )
            if not self.detail:
                raise ValueError(f"an abstention ({self.reason.name}) needs a detail text")
            if self.model is not None:
                raise ValueError(f"an abstention ({self.reason.name}) names no model")
        elif self.probabilities is None or self.labels is None or self.detail is not None:
            raise ValueError(
                "a classified decision (reason NONE) needs probabilities and labels and no detail"
            )

    @property
    def abstained(self) -> bool:
        return self.reason is not AbstainReason.NONE

    def to_dict(self) -> dict:
        return {
            "hop": self.hop,
            "time_unix": round(self.time_unix, 6),
            "window_end_s": round(self.window_end_s, 6),
            "window_end_ts": self.window_end_ts,
            "probabilities": (
                None
                if self.probabilities is None
                else {k: round(float(v), 6) for k, v in self.probabilities.items()}
            ),
            "labels": None if self.labels is None else dict(self.labels),
            "abstained": self.abstained,
            "reason": self.detail,
            "reason_code": {"name": self.reason.name, "number": int(self.reason)},
            "modalities": list(self.modalities),
            "policy": self.policy,
            "model": self.model,
            "quality": dict(self.quality),
            "missing_fraction": round(float(self.missing_fraction), 4),
            "gap_s": None if self.gap_s is None else round(float(self.gap_s), 6),
            "markers": [[t, m] for t, m in self.markers],
            "latency_ms": {k: round(v, 4) for k, v in self.latency_ms.items()},
            "backend": self.backend,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    def format_line(self) -> str:
        """One human-readable line, e.g. for the terminal."""
        head = f"[{self.window_end_s:8.2f} s]"
        if self.abstained:
            return f"{head} abstain: {self.detail}"
        parts = [
            f"{t} {self.labels[t].upper() if self.labels[t] == 'high' else 'low '} "
            f"{self.probabilities[t]:.2f}"
            for t in self.probabilities
        ]
        hr = self.quality.get("ecg", {}).get("heart_rate_bpm")
        extra = f"  HR {hr:5.1f}" if hr is not None else ""
        mods = "+".join(self.modalities)
        if self.model and self.model != MODEL_MAIN:
            mods += " fallback"
        lat = self.latency_ms.get("total")
        lat_s = f"  {lat:6.3f} ms" if lat is not None else ""
        return f"{head} {'  '.join(parts)}{extra}  [{mods}]{lat_s}"
