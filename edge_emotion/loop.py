"""The real-time driver: read a source, classify, write decisions, survive disconnects.

:func:`run` drives a :class:`~edge_emotion.source.Source` in real time: it reads, feeds
a :class:`~edge_emotion.classifier.Classifier`, writes decisions to sinks, reconnects
with exponential back-off after a :class:`~edge_emotion.source.SourceError`, and stops
cleanly on ``duration``, Ctrl-C or the end of a recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_emotion.classifier import Classifier
from edge_emotion.source import SourceError, SourceExhausted, StreamInfo

log = logging.getLogger("edge_emotion.run")


@dataclass
class RunStats:
    """What a run did, for the summary line."""

    records: int = 0
    abstained: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)
    ended_by: str = ""


def run(
    source,
    make_classifier: Callable[[tuple[StreamInfo, ...]], Classifier],
    sinks: Iterable,
    duration_s: float | None = None,
    backoff_s: tuple[float, float] = (0.5, 8.0),
    max_reconnects: int | None = None,
    stall_timeout_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunStats:
    """Read ``source`` until ``duration_s`` (s), Ctrl-C, the end of a recording or
    ``should_stop()``; write every decision to every sink; reconnect after errors.

    A :class:`SourceError` (or no data for ``stall_timeout_s``) stops the source and
    starts it again after a back-off that doubles from ``backoff_s[0]`` to ``backoff_s[1]``
    seconds; the samples the outage cost become a gap that the next windows report.
    The source is always stopped (BrainFlow's ``release_session``) before returning.
    """
    sinks = list(sinks)
    stats = RunStats()
    t_start = clock()
    classifier = None
    started = False
    delay = backoff_s[0]
    last_data = clock()
    try:
        while True:
            if should_stop():
                stats.ended_by = "stop requested"
                break
            if duration_s is not None and clock() - t_start >= duration_s:
                stats.ended_by = f"duration {duration_s:g} s reached"
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
                if chunks:
                    last_data = clock()
                elif clock() - last_data > stall_timeout_s:
                    raise SourceError(f"no data for {stall_timeout_s:g} s")
                for chunk in chunks:
                    for decision in classifier.feed(chunk):
                        stats.records += 1
                        stats.abstained += decision.abstained
                        for sink in sinks:
                            sink.write(decision)
            except SourceExhausted:
                stats.ended_by = "end of recording"
                break
            except SourceError as exc:
                stats.errors.append(str(exc))
                log.warning("source error: %s; reconnecting in %.1f s", exc, delay)
                if started:
                    _safe_stop(source)
                    started = False
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


def _safe_stop(source) -> None:
    try:
        source.stop()
    except Exception as exc:  # stopping a broken board may fail again; log and go on
        log.warning("stopping the source failed: %s", exc)
