"""Read at the pace of the hops: sleep until the next hop's data is due, wake the engine
just before it.

A board buffers what it samples (BrainFlow's ring buffer, an LSL inlet), so the loop
need not ask it every few milliseconds: every read hands the classifier a chunk, and at
200 reads a second that Python work was most of the process's CPU (12 % of a core on
the demo). Between hops :class:`HopPacer` sleeps until ``lead_s`` before the next hop's
last sample is due (from the samples still missing, the streams' nominal rates and the
time of the last read, see :meth:`Classifier.seconds_to_next_hop`); the loop's reads
then poll for it as before (BrainFlow: every 5 ms), so a hop takes a few reads and its
newest sample waits in the board's buffer no longer than without pacing. The lead
absorbs a wake-up that comes late on a busy core and a board that sends its samples in
packets.

A process that slept for a hop finds its caches cold: the first engine call after the
sleep takes two to three times as long as a hot one (``scripts/cold_start.py``: mostly
cache misses, as evicting the caches without sleeping costs as much). ``prime=True``
makes one untimed engine call on zeros on waking, which would take that cost where
nobody waits for it. On this shared 2-core machine it bought no latency the other
processes' load did not swamp, for a third more CPU, so it is off by default. No
busy-waiting: between hops the process sleeps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np

from edge_emotion.classifier import Classifier

# Woken this long before the hop is due: a wake-up late by a few ms on a busy core, a
# board's packet, or a priming call (< 1 ms) still leave the reads time to poll for it.
LEAD_S = 0.01


class HopPacer:
    """Sleeps between hops and primes the engine before the next (see the module
    docstring). ``prime`` is off by default: measured here it bought no latency that the
    machine's load did not swamp, for a third more CPU (README "Benchmarks")."""

    def __init__(self, lead_s: float = LEAD_S, prime: bool = False) -> None:
        if not lead_s >= 0:
            raise ValueError(f"lead_s must be >= 0 s, got {lead_s!r}")
        self.lead_s = float(lead_s)
        self.prime = bool(prime)
        self.sleeps = 0
        self._inputs: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def pause(
        self,
        classifier: Classifier,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
        read_at: float | None = None,
    ) -> float:
        """Sleep until ``lead_s`` before the next hop is due, counted from ``read_at`` (the
        ``clock()`` time of the read that brought the newest samples; default now), never
        longer than one hop; then prime if asked. Returns the seconds slept (0: the hop
        is due within ``lead_s``: the loop's reads poll for it)."""
        due = min(classifier.seconds_to_next_hop(), classifier.hop_s)
        if read_at is not None:
            due -= max(0.0, clock() - read_at)
        if due <= self.lead_s:
            return 0.0
        sleep(due - self.lead_s)
        self.sleeps += 1
        if self.prime:
            self.prime_engine(classifier)
        return due - self.lead_s

    def prime_engine(self, classifier: Classifier) -> None:
        """One engine call on zeros of the bundle's input shapes; its result is dropped."""
        if self._inputs is None:
            fc = classifier.fc
            self._inputs = (
                np.zeros((1, *fc.eeg_shape), np.float32) if fc.has_eeg else None,
                np.zeros((1, 1, *fc.hrv_shape), np.float32) if fc.has_ecg else None,
            )
        with contextlib.suppress(ValueError, RuntimeError):  # the hop's own call reports it
            classifier.engine.predict(*self._inputs)
