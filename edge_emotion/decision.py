"""The Decision record: what the runtime concluded about one window, or why it abstained.

Every hop yields exactly one record. Fields (JSON names in ``to_dict``):

- ``hop``: index of the hop since the run started; ``time_unix``: host clock (s) when
  the record was made; ``window_end_s``: end of the window on the data clock (s since the
  first sample); ``window_end_ts``: the source's timestamp (s) of the newest sample.
- ``probabilities`` / ``labels``: per target (``arousal``, ``valence``) P(high) and
  ``"high"``/``"low"`` against the bundle's thresholds; ``null`` when abstained.
- ``abstained``, ``reason``; ``modalities``: the modalities the decision used;
  ``policy``: what the run does when one modality is bad (``abstain`` or ``fallback``).
- ``quality``: per modality verdict (:class:`edge_emotion.quality.ModalityQuality`).
- ``latency_ms``: ``features`` (streaming kernels), ``quality``, ``inference`` (engine)
  and ``total`` (from the arrival of the newest sample to the record).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field


@dataclass
class Decision:
    hop: int
    window_end_s: float
    window_end_ts: float | None = None
    probabilities: dict[str, float] | None = None
    labels: dict[str, str] | None = None
    abstained: bool = False
    reason: str | None = None
    modalities: list[str] = field(default_factory=list)
    policy: str = "abstain"
    quality: dict[str, dict] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    time_unix: float = field(default_factory=time.time)

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
            "labels": self.labels,
            "abstained": self.abstained,
            "reason": self.reason,
            "modalities": list(self.modalities),
            "policy": self.policy,
            "quality": self.quality,
            "latency_ms": {k: round(v, 4) for k, v in self.latency_ms.items()},
            "backend": self.backend,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    def format_line(self) -> str:
        """One human-readable line, e.g. for the terminal."""
        head = f"[{self.window_end_s:8.2f} s]"
        if self.abstained:
            return f"{head} abstain: {self.reason}"
        parts = [
            f"{t} {self.labels[t].upper() if self.labels[t] == 'high' else 'low '} "
            f"{self.probabilities[t]:.2f}"
            for t in self.probabilities
        ]
        hr = self.quality.get("ecg", {}).get("heart_rate_bpm")
        extra = f"  HR {hr:5.1f}" if hr is not None else ""
        mods = "+".join(self.modalities)
        lat = self.latency_ms.get("total")
        lat_s = f"  {lat:6.3f} ms" if lat is not None else ""
        return f"{head} {'  '.join(parts)}{extra}  [{mods}]{lat_s}"
