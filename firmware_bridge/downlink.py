"""Decisions back to the device (DECISION frames, PROTOCOL.md §3.3).

:func:`to_wire_decision` turns the runtime's :class:`edge_emotion.decision.Decision`
record into the protocol's compact form; :class:`BridgeSink` is a run-loop sink that
sends every record to the device through a started :class:`BridgeSource` (one serial
port, both directions).
"""

from __future__ import annotations

from typing import Any

from edge_emotion.firmware_bridge.protocol import AbstainReason, Decision
from edge_emotion.firmware_bridge.source import BridgeSource

# Abstention reasons are free text in the runtime; the device gets a code. First match wins.
_REASON_WORDS = (
    (("lead",), AbstainReason.LEAD_OFF),
    (("flat", "saturat", "nan", "quality", "implausible", "noise"), AbstainReason.SIGNAL_QUALITY),
    (("not enough", "warm", "too few", "waiting", "insufficient"), AbstainReason.NOT_ENOUGH_DATA),
    (("model", "engine", "inference"), AbstainReason.MODEL_ERROR),
)


def reason_code(reason: str | None) -> AbstainReason:
    """Map a free-text abstention reason to its PROTOCOL.md code (OTHER if unknown)."""
    if not reason:
        return AbstainReason.OTHER
    text = reason.lower()
    for words, code in _REASON_WORDS:
        if any(w in text for w in words):
            return code
    return AbstainReason.OTHER


def to_wire_decision(record: Any) -> Decision:
    """A runtime decision record (``edge_emotion.decision.Decision``: ``probabilities``,
    ``labels``, ``abstained``, ``reason``, ``window_end_ts`` in seconds of the source
    clock) -> the protocol's :class:`Decision`.

    The bridge source's timestamps are the device clock in seconds, so ``window_end_ts``
    maps back to the device's ``timestamp_us`` (modulo 2^32).
    """
    probs = getattr(record, "probabilities", None) or {}
    labels = getattr(record, "labels", None) or {}
    abstained = bool(getattr(record, "abstained", False)) or not probs
    ts = getattr(record, "window_end_ts", None)
    end_us = round(ts * 1e6) & 0xFFFFFFFF if ts is not None else 0
    return Decision(
        p_arousal=float(probs.get("arousal", float("nan"))),
        p_valence=float(probs.get("valence", float("nan"))),
        arousal_high=labels.get("arousal") == "high",
        valence_high=labels.get("valence") == "high",
        abstained=abstained,
        reason=reason_code(getattr(record, "reason", None)) if abstained else AbstainReason.NONE,
        window_end_us=end_us,
    )


class BridgeSink:
    """Run-loop sink: sends each decision record to the device as a DECISION frame."""

    def __init__(self, source: BridgeSource) -> None:
        self.source = source
        self.sent = 0

    def write(self, decision: Any) -> None:
        self.source.send_decision(to_wire_decision(decision))
        self.sent += 1

    def close(self) -> None:
        """The source owns the link; it closes it in ``stop``."""
