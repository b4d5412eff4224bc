"""Decisions back to the device (DECISION frames, PROTOCOL.md §3.3).

:func:`to_wire_decision` turns the runtime's :class:`edge_emotion.decision.Decision`
record into the protocol's compact form; :class:`BridgeSink` is a run-loop sink that
sends every record to the device through a started :class:`BridgeSource` (one serial
port, both directions).
"""

from __future__ import annotations

from edge_emotion.decision import Decision as RuntimeDecision
from edge_emotion.firmware_bridge.protocol import Decision
from edge_emotion.firmware_bridge.source import BridgeSource

SLOTS = ("arousal", "valence")  # the frame's two probability slots, in order


def wire_slots(targets) -> dict[str, str]:
    """Which of a model's targets each of the frame's two slots carries: ``arousal`` and
    ``valence`` their own slots, any other target the first slot left free, in the model's
    order (a third target has no slot and is not sent). A slot no target fills carries 0
    and a clear label bit (PROTOCOL.md §3.3)."""
    slots = {s: s for s in SLOTS if s in targets}
    free = [s for s in SLOTS if s not in slots]
    for t in targets:
        if t not in SLOTS and free:
            slots[free.pop(0)] = t
    return slots


def to_wire_decision(record: RuntimeDecision) -> Decision:
    """A runtime decision record -> the protocol's :class:`Decision`.

    The record's targets go to the frame's slots by :func:`wire_slots`. The abstention
    code is the record's own ``edge_emotion.decision.AbstainReason`` (the protocol's codes
    are its values). The bridge source's timestamps are the device clock in seconds, so
    ``window_end_ts`` maps back to the device's ``timestamp_us`` (modulo 2^32).
    """
    probs = record.probabilities or {}
    labels = record.labels or {}
    slots = wire_slots(list(probs))
    ts = record.window_end_ts
    end_us = round(ts * 1e6) & 0xFFFFFFFF if ts is not None else 0
    nan = float("nan")
    return Decision(
        p_arousal=float(probs.get(slots.get("arousal", ""), nan)),
        p_valence=float(probs.get(slots.get("valence", ""), nan)),
        arousal_high=labels.get(slots.get("arousal", "")) == "high",
        valence_high=labels.get(slots.get("valence", "")) == "high",
        abstained=record.abstained,
        reason=record.reason,
        window_end_us=end_us,
    )


class BridgeSink:
    """Run-loop sink: sends each decision record to the device as a DECISION frame."""

    def __init__(self, source: BridgeSource) -> None:
        self.source = source
        self.sent = 0

    def write(self, decision: RuntimeDecision) -> None:
        self.source.send_decision(to_wire_decision(decision))
        self.sent += 1

    def close(self) -> None:
        """The source owns the link; it closes it in ``stop``."""
