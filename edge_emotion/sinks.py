"""Where decisions go: the terminal, a JSON-lines file, a Lab Streaming Layer outlet, and
the counts of the run's end-of-run summary (with, for a recording whose parts are known,
the share of decisions that match each part: :class:`KnownState`).

Each sink has ``write(decision)`` and ``close()``. The JSONL file is written through
(no buffer) after every record, so a run that is killed loses nothing already decided; a
sink that cannot write raises :class:`SinkError`, which ends the run with its summary.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from edge_emotion.decision import MODEL_MAIN, Decision


class SinkError(OSError):
    """A sink cannot take more decisions (disk full, file removed, device gone)."""


class Sink(Protocol):
    def write(self, decision: Decision) -> None: ...

    def close(self) -> None: ...


class StdoutSink:
    """One readable line per decision (``every`` > 1 prints every n-th hop only)."""

    def __init__(self, stream: TextIO | None = None, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.stream = stream if stream is not None else sys.stdout
        self.every = int(every)

    def write(self, decision: Decision) -> None:
        if decision.hop % self.every == 0:
            print(decision.format_line(), file=self.stream, flush=True)

    def close(self) -> None:
        pass


class JsonlSink:
    """Appends one JSON object per decision to ``path``, one line each.

    An existing file whose last line lacks its newline (a run cut off mid-record) gets
    one first, so the first new record starts a line of its own. Each record is written
    with one unbuffered write; any failure raises :class:`SinkError` naming the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise SinkError(f"--out: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise SinkError(f"--out {self.path} is a folder; give a file name (e.g. run.jsonl)")
        try:
            mid_line = _ends_mid_line(self.path)
            self._f = open(self.path, "ab", buffering=0)  # noqa: SIM115 (closed in close())
            if mid_line:
                self._write(b"\n")
        except OSError as exc:
            raise SinkError(f"--out {self.path}: cannot write ({exc.strerror or exc})") from None
        self.records = 0

    def write(self, decision: Decision) -> None:
        try:
            self._write((decision.to_json() + "\n").encode("utf-8"))
        except OSError as exc:
            raise SinkError(
                f"--out {self.path}: writing record {self.records + 1} failed "
                f"({exc.strerror or exc})"
            ) from None
        self.records += 1

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._f.write(view) :]

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def _ends_mid_line(path: Path) -> bool:
    """True when ``path`` is a non-empty regular file whose last byte is not a newline
    (pipes and devices have no last byte; a missing file is about to be created)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


class LslSink:
    """A Lab Streaming Layer outlet with one float channel per target (P(high)) and an
    ``abstained`` channel (1.0/0.0); abstentions carry NaN probabilities.

    The stream's type is ``EmotionDecision`` and its nominal rate is one sample per hop,
    so LabRecorder and other LSL tools record it beside the raw signals. Samples are
    stamped with the host's LSL clock when pushed.
    """

    def __init__(self, name: str, targets: list[str], hop_s: float, source_id: str = "") -> None:
        import pylsl

        self.targets = list(targets)
        info = pylsl.StreamInfo(
            name,
            "EmotionDecision",
            len(self.targets) + 1,
            1.0 / hop_s,
            pylsl.cf_float32,
            source_id or f"edge_emotion-{name}",
        )
        chans = info.desc().append_child("channels")
        for label in [*self.targets, "abstained"]:
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "probability" if label != "abstained" else "flag")
        self._outlet = pylsl.StreamOutlet(info)

    def write(self, decision: Decision) -> None:
        if decision.probabilities is None:
            sample = [math.nan] * len(self.targets) + [1.0]
        else:
            sample = [float(decision.probabilities[t]) for t in self.targets] + [0.0]
        self._outlet.push_sample(sample)

    def close(self) -> None:
        self._outlet = None


@dataclass(frozen=True)
class KnownState:
    """A part of a recording whose state is known: ``[start_s, end_s)`` on the data clock
    (s since the first sample) and the label each target should get there (e.g. rest:
    ``{"arousal": "low"}``)."""

    name: str
    start_s: float
    end_s: float
    labels: Mapping[str, str] = field(default_factory=dict)


class SummarySink:
    """Counts and recent latencies for the run's end-of-run summary (:meth:`lines`); memory
    bounded by ``keep`` latencies.

    With ``known_states`` (and the model's ``window_s``) it also scores each decision whose
    whole window lies inside one known part against that part's labels; windows that
    span a change of state are counted apart, not scored.
    """

    def __init__(
        self,
        keep: int = 20_000,
        known_states: tuple[KnownState, ...] = (),
        window_s: float = 0.0,
    ) -> None:
        self.window_s = float(window_s)
        # state name -> [classified, abstained, {target: matches}]
        self.set_known_states(known_states)
        self.across_change = 0
        self.records = 0
        self.abstained = 0
        self.reasons: Counter = Counter()
        self.models: Counter = Counter()  # classified decisions by the model that decided
        self.fallback_policy = False
        self.total_ms: deque = deque(maxlen=keep)
        self.features_ms: deque = deque(maxlen=keep)
        self.inference_ms: deque = deque(maxlen=keep)

    def set_known_states(self, known_states: tuple[KnownState, ...]) -> None:
        """Score the decisions from now on against ``known_states`` (see the class)."""
        self.known_states = tuple(known_states)
        self.by_state = {s.name: [0, 0, Counter()] for s in self.known_states}
        self.scored_targets: set[str] = set()

    def write(self, d: Decision) -> None:
        self.records += 1
        self.fallback_policy |= d.policy == "fallback"
        if not d.abstained:
            self.models[d.model or MODEL_MAIN] += 1
        if d.abstained:
            self.abstained += 1
            self.reasons[d.reason.label] += 1
        elif "inference" in d.latency_ms:
            self.total_ms.append(d.latency_ms["total"])
            self.features_ms.append(d.latency_ms.get("features", np.nan))
            self.inference_ms.append(d.latency_ms["inference"])
        if self.known_states:
            self._score(d)

    def _score(self, d: Decision) -> None:
        start = max(d.window_end_s - self.window_s, 0.0)  # warm-up windows are shorter
        state = next(
            (
                s
                for s in self.known_states
                if s.start_s - 1e-9 <= start and d.window_end_s <= s.end_s + 1e-9
            ),
            None,
        )
        if state is None:
            self.across_change += 1
            return
        counts = self.by_state[state.name]
        if d.abstained or d.labels is None:
            counts[1] += 1
            return
        counts[0] += 1
        for target, want in state.labels.items():
            if target in d.labels:  # a bundle without the target is not scored on it
                self.scored_targets.add(target)
                counts[2][target] += d.labels[target] == want

    def close(self) -> None:
        pass

    def lines(self) -> list[str]:
        out = [
            f"{self.records} decisions, {self.records - self.abstained} classified, "
            f"{self.abstained} abstained"
            + (
                " (" + ", ".join(f"{r}: {c}" for r, c in self.reasons.most_common(4)) + ")"
                if self.reasons
                else ""
            )
        ]
        if self.fallback_policy:
            counts = ", ".join(f"{m} {c}" for m, c in self.models.most_common()) or "none"
            out.append(f"classified by model: {counts}")
        if self.total_ms:

            def stat(q):
                return " / ".join(
                    f"{np.percentile(np.asarray(v), q):.3f}"
                    for v in (self.features_ms, self.inference_ms, self.total_ms)
                )

            out.append(
                f"latency ms (features / inference / total): median {stat(50)}, p99 {stat(99)}"
            )
        return out + self.state_lines()

    def state_lines(self) -> list[str]:
        """The agreement with the known states, one line per state and target."""
        if not self.known_states:
            return []
        out = ["agreement with the known states (windows wholly inside a part):"]
        any_classified = any(counts[0] for counts in self.by_state.values())
        for s in self.known_states:
            classified, abstained, matches = self.by_state[s.name]
            for target, want in s.labels.items():
                if target not in self.scored_targets and any_classified:
                    continue
                share = f"{100 * matches[target] / classified:.0f}%" if classified else "-"
                out.append(
                    f"  {s.name:<12} {target} {want}: {matches[target]} of {classified} "
                    f"classified ({share}); {abstained} abstained"
                )
        out.append(f"  {self.across_change} windows spanning a change of state, not scored")
        return out
