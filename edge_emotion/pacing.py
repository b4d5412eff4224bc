"""Read at the pace of the hops: sleep until the next hop's data is due, wake the engine
just before it.

A board buffers what it samples (BrainFlow's ring buffer, an LSL inlet), so the loop
need not ask it every few milliseconds: every read hands the classifier a chunk, and at
200 reads a second that Python work was most of the process's CPU (12 % of a core on
the demo). Between hops :class:`HopPacer` sleeps until ``lead_s`` before the next hop's
last sample is due (from the samples still missing and the streams' nominal rates, see
:meth:`Classifier.seconds_to_next_hop`); the loop's reads then poll as before until the
hop is complete, so the newest sample waits no longer in the board's buffer than
without pacing.

A process that slept for a hop finds its caches cold and its core slow to wake: the
first engine call after the sleep takes two to four times as long as a hot one
(``scripts/cold_start.py``). So on waking the pacer *primes*: one untimed engine call on
zeros, ``lead_s`` before the hop is due, which takes that cost where nobody waits for
it. No busy-waiting: between hops the process sleeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from edge_emotion.classifier import Classifier

# Woken this long before the hop's last sample is due: longer than a read's poll (5 ms)
# plus a board's packet (Bluetooth boards send ~40 ms of samples at once), short enough
# that the primed caches are still warm when the hop's features and model run.
LEAD_S = 0.03


class HopPacer:
    """Sleeps between hops and primes the engine before the next (see the module
    docstring). ``prime=False`` only sleeps (for measuring what priming buys)."""

    def __init__(self, lead_s: float = LEAD_S, prime: bool = True) -> None:
        if not lead_s >= 0:
            raise ValueError(f"lead_s must be >= 0 s, got {lead_s!r}")
        self.lead_s = float(lead_s)
        self.prime = bool(prime)
        self.sleeps = 0
        self._inputs: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def pause(self, classifier: Classifier, sleep: Callable[[float], None]) -> float:
        """Sleep until ``lead_s`` before the next hop is due (never longer than one hop),
        then prime; returns the seconds slept (0: the hop is due within ``lead_s``)."""
        wait = min(classifier.seconds_to_next_hop(), classifier.hop_s) - self.lead_s
        if wait <= 0:
            return 0.0
        sleep(wait)
        self.sleeps += 1
        if self.prime:
            self.prime_engine(classifier)
        return wait

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
