"""The real-time driver: read a source, classify, write decisions, survive disconnects.

:func:`run` drives a :class:`~edge_emotion.source.Source` in real time: it reads, feeds
a :class:`~edge_emotion.classifier.Classifier`, writes decisions to sinks, reconnects
with exponential back-off after a :class:`~edge_emotion.source.SourceError`, and stops
cleanly on ``duration``, Ctrl-C or the end of a recording.

Failing fast: a first connection that still fails after ``connect_retries`` quick
retries ends the run (``RunStats.failed``; the CLI exits non-zero with the source's
message — a wrong port, no device, a busy board), as does a
:class:`~edge_emotion.source.FatalSourceError` at any time and a sink that cannot write
(``OSError``: a full disk). Only a stream that has started is retried for as long as
the run lasts.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_emotion.classifier import Classifier
from edge_emotion.pacing import HopPacer
from edge_emotion.source import FatalSourceError, SourceError, SourceExhausted, StreamInfo

log = logging.getLogger("edge_emotion.run")

# The newest source errors kept for the summary (a device that flaps for days must not
# grow the run's memory).
MAX_ERRORS_KEPT = 20


@dataclass
class RunStats:
    """What a run did, for the summary line."""

    records: int = 0
    abstained: int = 0
    reconnects: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS_KEPT))
    ended_by: str = ""
    failed: bool = False  # ended by an error (no connection, fatal source error, sink)

    def fail(self, why: str) -> None:
        self.ended_by = why
        self.failed = True


def run(
    source,
    make_classifier: Callable[[tuple[StreamInfo, ...]], Classifier],
    sinks: Iterable,
    duration_s: float | None = None,
    backoff_s: tuple[float, float] = (0.5, 8.0),
    max_reconnects: int | None = None,
    connect_retries: int = 2,
    stall_timeout_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    pacer: HopPacer | None = None,
) -> RunStats:
    """Read ``source`` until ``duration_s`` (s), Ctrl-C, the end of a recording or
    ``should_stop()``; write every decision to every sink; reconnect after errors.

    Before the stream has ever started, a :class:`SourceError` from ``start`` is retried
    ``connect_retries`` times (back-off from ``backoff_s[0]``), then the run ends with
    ``stats.failed``. Once it has started, a :class:`SourceError` (or no data for
    ``stall_timeout_s``) stops the source and starts it again after a back-off that
    doubles from ``backoff_s[0]`` to ``backoff_s[1]`` seconds; the samples the outage
    cost become a gap that the next record reports. A :class:`FatalSourceError`, or an
    ``OSError`` from a sink, ends the run with ``stats.failed``. The source is always
    stopped (BrainFlow's ``release_session``) before returning.

    A source that buffers between reads (``source.buffered``: BrainFlow, LSL) is read at
    the pace of the hops: ``pacer`` (default :class:`HopPacer`) sleeps until the next hop's
    data is due and primes the engine just before (:mod:`edge_emotion.pacing`).
    """
    sinks = list(sinks)
    stats = RunStats()
    t_start = clock()
    classifier = None
    started = False
    connect_failures = 0
    delay = backoff_s[0]
    last_data = clock()
    if pacer is None and getattr(source, "buffered", False):
        pacer = HopPacer()
    try:
        while True:
            if should_stop():
                stats.ended_by = "stop requested"
                break
            if duration_s is not None and clock() - t_start >= duration_s:
                stats.ended_by = f"duration {duration_s:g} s reached"
                if classifier is None and stats.errors:
                    stats.fail(f"could not connect: {stats.errors[-1]}")
                break
            try:
                if not started:
                    streams = source.start()
                    started = True
                    last_data = clock()
                    if classifier is None:
                        classifier = make_classifier(tuple(streams))
                    delay = backoff_s[0]
                chunks = source.read(timeout_s=0.05)
                read_at = clock()
                if chunks:
                    last_data = clock()
                elif clock() - last_data > stall_timeout_s:
                    raise SourceError(f"no data for {stall_timeout_s:g} s")
                for chunk in chunks:
                    for decision in classifier.feed(chunk):
                        stats.records += 1
                        stats.abstained += decision.abstained
                        _write(sinks, decision)
                if pacer is not None and chunks:
                    pacer.pause(classifier, sleep, clock, read_at)
            except _SinkFailed as exc:
                stats.errors.append(str(exc))
                log.error("%s; stopping", exc)
                stats.fail(str(exc))
                break
            except SourceExhausted:
                stats.ended_by = "end of recording"
                break
            except FatalSourceError as exc:
                stats.errors.append(str(exc))
                stats.fail(f"source failed: {exc}")
                break
            except SourceError as exc:
                stats.errors.append(str(exc))
                if started:
                    _safe_stop(source)
                    started = False
                if classifier is None:  # never connected: a wrong address, no device
                    connect_failures += 1
                    if connect_failures > connect_retries:
                        stats.fail(f"could not connect: {exc}")
                        break
                    log.warning("cannot connect: %s; retrying in %.1f s", exc, delay)
                    sleep(delay)
                    delay = min(delay * 2.0, backoff_s[1])
                    continue
                log.warning("source error: %s; reconnecting in %.1f s", exc, delay)
                if max_reconnects is not None and stats.reconnects >= max_reconnects:
                    stats.ended_by = f"gave up after {stats.reconnects} reconnects"
                    break
                stats.reconnects += 1
                sleep(delay)
                delay = min(delay * 2.0, backoff_s[1])
    except KeyboardInterrupt:
        stats.ended_by = "interrupted (Ctrl-C)"
    finally:
        if started:
            _safe_stop(source)
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:  # a sink that fails to close must not hide the summary
                log.warning("closing %s failed: %s", type(sink).__name__, exc)
    return stats


class _SinkFailed(Exception):
    """A sink could not write a record (e.g. a full disk)."""


def _write(sinks: list, decision) -> None:
    for sink in sinks:
        try:
            sink.write(decision)
        except OSError as exc:
            raise _SinkFailed(f"output failed: {type(sink).__name__}: {exc}") from exc


def _safe_stop(source) -> None:
    try:
        source.stop()
    except Exception as exc:  # stopping a broken board may fail again; log and go on
        log.warning("stopping the source failed: %s", exc)
