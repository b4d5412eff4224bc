"""The classifier: chunks in, one Decision per hop out.

:class:`Classifier` holds no I/O: it is fed source chunks (in any sizes, from one or
several streams) and returns the decisions they complete, so tests drive it faster than
real time. It keeps one :class:`~edge_emotion.lane.Lane` per modality (queue,
resampler to the bundle's rate, block statistics for the quality checks) and one
:class:`~edge_emotion.kernels.features.StreamingFeatureExtractor` for both. Hops are
scheduled on the data clock: hop ``k`` ends when every lane has produced
``k * hop_s * fs_model`` model-rate samples, so replay speed does not change the records.
Each hop: quality checks, features, the engine (or the reason it abstains), the bundle's
thresholds, one frozen :class:`~edge_emotion.decision.Decision`
(:mod:`edge_emotion.window_model`, which also keeps a session-baseline bundle's running
baseline). A bundle of one modality (EEG only, ECG only) gets one lane.

Gaps. Samples lost for up to ``max_fill_s`` (default: as long as the missing-sample
check tolerates in a window, ``max_missing_fraction × window_s``) are filled in place
and counted as missing, so the windows that hold them abstain with ``SAMPLES_MISSING``
only if they hold more than the check allows. A longer gap, and a resync (a source's
``discontinuity``, timestamps out of range or stepping back), is one ``GAP`` record
with its duration (``gap_s``): every window around it would have abstained anyway, so
instead of one record per hop nobody saw, the stream restarts — new filters, new R-peak
detector, empty windows, the other streams skipped to the same point — and the next
``window_s`` of data abstain with ``NOT_ENOUGH_DATA`` (warming up) as after a start.
``window_end_s`` keeps counting data time across the gap; ``hop`` counts records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_emotion.bundle import Bundle
from edge_emotion.decision import AbstainReason, Decision
from edge_emotion.kernels.blockstats import BlockStatistics
from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.kernels.features import StreamingFeatureExtractor
from edge_emotion.kernels.resample import StreamingResampler
from edge_emotion.lane import FILLS, Break, Lane
from edge_emotion.lane_plan import ConfigurationError, plan_lanes
from edge_emotion.quality import (
    QualityConfig,
    abstention,
    assess_features,
    assess_heart,
    assess_signal,
    missing_fraction,
)
from edge_emotion.source import Chunk, StreamInfo
from edge_emotion.window_model import Outcome, Predictor, WindowModel

log = logging.getLogger("edge_emotion.run")

POLICIES = ("abstain", "fallback")
# Markers waiting for the next record; a flood beyond this drops the oldest (counted).
MAX_PENDING_MARKERS = 256

ExtractorFactory = Callable[[FeatureConfig], StreamingFeatureExtractor]


@dataclass(frozen=True)
class LoopConfig:
    """How the loop runs.

    ``hop_s``: time between decisions (s); None takes the bundle's. ``policy``: what to do
    when exactly one modality is bad — ``"abstain"``, or ``"fallback"`` to a
    single-modality model (at least one in ``fallback_engines``; a window whose good
    modality has none abstains).
    ``gap_tolerance_s``: a jump in source timestamps larger than this counts as lost
    samples. ``max_fill_s``: the longest gap (s) filled in place, longer ones restart the
    stream (one ``GAP`` record); None: ``quality.max_missing_fraction`` × the window.
    ``fill``: how missing samples are filled, ``"linear"`` or ``"hold"`` (see
    :mod:`edge_emotion.lane`). Quality thresholds in ``quality``.
    """

    hop_s: float | None = None
    policy: str = "abstain"
    gap_tolerance_s: float = 0.5
    max_fill_s: float | None = None
    fill: str = "linear"
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.hop_s is not None and not self.hop_s > 0:
            raise ValueError(f"hop_s must be a positive number of seconds, got {self.hop_s!r}")
        if not self.gap_tolerance_s > 0:
            raise ValueError(f"gap_tolerance_s must be positive, got {self.gap_tolerance_s!r}")
        if self.max_fill_s is not None and not self.max_fill_s >= 0:
            raise ValueError(f"max_fill_s must be >= 0 s, got {self.max_fill_s!r}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {self.fill!r}")


class Classifier:
    """Feed chunks, get decisions (see the module docstring).

    ``engine`` has ``.name`` and ``.predict(eeg (1,bands,ch,sub), ecg (1,1,L)) ->
    (1, n_targets)`` (``None`` for an input the bundle does not take).
    ``fallback_engines`` maps a modality (``"eeg"``/``"ecg"``) to a callable taking that
    modality's features alone and returning (1, n_targets) probabilities; used only with
    ``policy="fallback"`` on a bundle of both modalities.
    """

    def __init__(
        self,
        bundle: Bundle,
        engine: Predictor,
        streams: tuple[StreamInfo, ...],
        config: LoopConfig | None = None,
        fallback_engines: dict[str, Callable[[np.ndarray], np.ndarray]] | None = None,
        extractor_factory: ExtractorFactory | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config or LoopConfig()
        self.bundle = bundle
        self.engine = engine
        self.fc = bundle.feature_config
        self.targets = tuple(bundle.targets)
        self.fallback_engines = dict(fallback_engines or {})
        if self.config.policy == "fallback" and len(self.fc.modalities) < 2:
            raise ConfigurationError(
                f"policy 'fallback' needs a bundle of EEG and ECG; this one takes "
                f"{self.fc.modalities[0]} only — use --on-bad-modality abstain"
            )
        if self.config.policy == "fallback" and not self.fallback_engines:
            raise ConfigurationError(
                "policy 'fallback' needs a single-modality model (the bundle's fallbacks); "
                "this bundle has none — use --on-bad-modality abstain"
            )
        self.hop_s = float(self.config.hop_s or self.fc.hop_s)
        self.plans = plan_lanes(tuple(streams), self.fc)
        self.model = WindowModel(
            bundle, engine, self.config.policy == "fallback", self.fallback_engines, self.hop_s
        )
        self.hop_samples: dict[str, int] = {}
        for m, plan in self.plans.items():
            hs = self.hop_s * plan.fs_out
            if abs(hs - round(hs)) > 1e-9 or round(hs) < 1:
                raise ConfigurationError(
                    f"hop {self.hop_s:g} s is not a whole number of {m.upper()} samples at "
                    f"{plan.fs_out:g} Hz; pick a hop that is (e.g. {self.fc.hop_s:g} s)"
                )
            self.hop_samples[m] = round(hs)
        self._names = {m: list(p.names) for m, p in self.plans.items()}
        self.window_samples = {m: round(self.fc.window_s * p.fs_out) for m, p in self.plans.items()}
        self._extractor_factory = extractor_factory or StreamingFeatureExtractor
        self._clock = clock
        self.max_fill_s = (
            self.config.max_fill_s
            if self.config.max_fill_s is not None
            else self.config.quality.max_missing_fraction * self.fc.window_s
        )
        self.hop = 0
        self.records = 0
        self.gaps = 0
        self.markers_dropped = 0
        self._markers: list[tuple[float, str]] = []
        self.reset()

    def seconds_to_next_hop(self) -> float:
        """Seconds of data, at the streams' nominal rates, the next hop still waits for
        (0 when a lane holds a break or samples to skip: the next feed decides at once).
        :class:`edge_emotion.pacing.HopPacer` sleeps on it between reads."""
        k = self.hop - self._base_hop + 1
        due = 0.0
        for m, lane in self.lanes.items():
            if lane.queue or lane.skip:
                return 0.0
            need = lane.resampler.inputs_for(k * self.hop_samples[m]) - lane.board_count
            due = max(due, need / lane.plan.fs_in)
        return due

    def warm_up(self) -> None:
        """See :func:`warm_up`."""
        warm_up(self.bundle, self.engine, self._extractor_factory)

    def reset(self) -> None:
        """Start over (new filters, empty windows); the hop count carries on."""
        n_blocks = round(self.fc.window_s / self.hop_s)
        cfg = self.config
        self.lanes = {
            m: Lane(
                p,
                n_blocks,
                cfg.quality.saturation_uv,
                self.max_fill_s,
                cfg.fill,
                cfg.gap_tolerance_s,
            )
            for m, p in self.plans.items()
        }
        self.extractor = self._extractor_factory(self.fc)
        self._base_hop = self.hop
        self._t_base = 0.0  # data time (s) at the start of the current stretch
        # The lane whose break restarted the stream, until the next hop is decided.
        self._after_break: str | None = None

    def feed(self, chunk: Chunk, arrival: float | None = None) -> list[Decision]:
        """Add one chunk; return the decisions of every hop it completed (maybe none)."""
        arrival = self._clock() if arrival is None else arrival
        data = np.asarray(chunk.data, dtype=np.float64)
        ts = np.asarray(chunk.timestamps, dtype=np.float64).reshape(-1)
        meta = chunk.meta or {}
        for marker in meta.get("markers") or ():
            self._add_marker(marker)
        lanes = [lane for lane in self.lanes.values() if lane.plan.stream == chunk.stream]
        if lanes and (data.ndim != 2 or data.shape[0] <= max(max(la.plan.rows) for la in lanes)):
            log.warning("ignored a chunk of shape %s on stream %d", data.shape, chunk.stream)
            return []
        lost = chunk.lost_samples if isinstance(chunk.lost_samples, (int, np.integer)) else 0
        resync = None
        if meta.get("discontinuity"):
            resync = f"the stream resynchronised (index jump {meta.get('index_jump', '?')})"
        stamps = ts if ts.size == data.shape[1] else np.empty(0)
        for lane in lanes:
            lane.enqueue(data[list(lane.plan.rows)], stamps, lost, arrival, resync)
        return self._drain()

    def _add_marker(self, marker) -> None:
        # A marker stream is read as fast as it comes: keep a bounded backlog.
        try:
            t, text = marker
            item = (float(t), str(text)[:200])
        except (TypeError, ValueError):
            return
        if len(self._markers) >= MAX_PENDING_MARKERS:
            self._markers.pop(0)
            self.markers_dropped += 1
        self._markers.append(item)

    def _drain(self) -> list[Decision]:
        out = []
        while True:
            k = self.hop - self._base_hop + 1
            targets = {m: k * self.hop_samples[m] for m in self.lanes}
            ready = [lane.advance(targets[m]) for m, lane in self.lanes.items()]
            if all(ready):
                out.append(self._decide(targets))
                self._after_break = None
            else:
                broken = [(m, lane.at_break) for m, lane in self.lanes.items() if lane.at_break]
                if not broken:
                    return out
                m, brk = broken[0]
                if self._after_break not in (None, m) and self.hop == self._base_hop:
                    # The same outage seen on another stream, before any hop of the new
                    # stretch: that stream resumes after its own break; no second record.
                    self.lanes[m].queue.popleft()
                    self.lanes[m].skip = 0
                    self.lanes[m].restart()
                    continue
                out.append(self._restart_after(m, brk))
            self.hop += 1
            self.records += 1

    def _restart_after(self, modality: str, brk: Break) -> Decision:
        """One GAP record for ``brk`` in ``modality``'s lane; restart every lane after it."""
        lane = self.lanes[modality]
        lane.queue.popleft()
        t_break = self._t_base + lane.data_time_s
        t_resume = t_break + (brk.duration_s or 0.0)
        for other in self.lanes.values():
            if other is not lane:  # drop its samples of the same stretch of time
                ahead = round((t_resume - self._t_base) * other.plan.fs_in) - other.board_count
                other.skip = max(0, other.skip + ahead)
            other.restart()
        self.extractor = self._extractor_factory(self.fc)
        self._t_base = t_resume
        self._base_hop = self.hop + 1
        self._after_break = modality
        self.gaps += 1
        if brk.duration_s is None:
            detail = f"gap: {brk.detail}; restarting"
        else:
            detail = (
                f"gap of {brk.duration_s:.3f} s in the {modality.upper()} stream "
                f"({brk.detail}); restarting"
            )
        return Decision(
            hop=self.hop,
            window_end_s=t_resume,
            window_end_ts=lane.last_ts_consumed,
            reason=AbstainReason.GAP,
            detail=detail,
            policy=self.config.policy,
            latency_ms={"total": 1e3 * (self._clock() - brk.arrival)},
            backend=self.engine.name,
            missing_fraction=1.0,
            gap_s=brk.duration_s,
            markers=self._take_markers(),
        )

    def _take_markers(self) -> tuple[tuple[float, str], ...]:
        markers, self._markers = tuple(self._markers), []
        return markers

    def _decide(self, targets: dict[str, int]) -> Decision:
        clock = self._clock
        t0 = clock()
        new = {m: lane.take(targets[m]) for m, lane in self.lanes.items()}
        arrival = max(lane.last_arrival for lane in self.lanes.values())
        latency: dict[str, float] = {}
        try:
            if "eeg" in new:
                self.extractor.push_eeg(new["eeg"])
            if "ecg" in new:
                self.extractor.push_ecg(new["ecg"][0])
        except ValueError as exc:  # the extractor refused the data: restart it
            log.warning("feature extractor refused data (%s); restarting filters", exc)
            self.extractor = self._extractor_factory(self.fc)
            self._t_base = self._window_end()
            self._base_hop = self.hop + 1
            for lane in self.lanes.values():
                lane.restart_count()
        t_push = clock()
        for lane in self.lanes.values():
            lane.stats.close_block()
        windows = {
            m: lane.stats.window(self.config.quality.flat_std_uv) for m, lane in self.lanes.items()
        }
        warm = min((lane.model_count / self.window_samples[m]) for m, lane in self.lanes.items())
        if warm < 1.0:
            latency["total"] = 1e3 * (clock() - arrival)
            detail = f"warming up ({warm * self.fc.window_s:.2f}/{self.fc.window_s:g} s of data)"
            missing = max(missing_fraction(w) for w in windows.values())
            return self._record(
                Outcome.abstain(AbstainReason.NOT_ENOUGH_DATA, detail), {}, latency, missing
            )
        q = {m: assess_signal(windows[m], self._names[m], self.config.quality) for m in self.lanes}
        t_q = clock()
        features = None
        outcome = None
        if any(qm.ok for qm in q.values()):
            try:
                features = self.extractor.features()
            except (ValueError, RuntimeError, FloatingPointError) as exc:
                outcome = Outcome.abstain(AbstainReason.FEATURES_FAILED, f"features failed: {exc}")
        t_f = clock()
        latency["features"] = 1e3 * ((t_push - t0) + (t_f - t_q))
        latency["quality"] = 1e3 * (t_q - t_push)
        if features is not None:
            de_map, hrv = features
            if "ecg" in q and q["ecg"].ok:
                assess_heart(hrv, q["ecg"], self.config.quality, self.extractor.n_artefacts)
            assess_features(de_map, hrv, q)
        quality = {m: qm.to_dict() for m, qm in q.items()}
        if outcome is None:
            if features is not None:
                outcome = self.model.outcome(q, *features)
            else:
                outcome = Outcome.abstain(*abstention(q))
        t_end = clock()
        latency["inference"] = 1e3 * (t_end - t_f)
        latency["total"] = 1e3 * (t_end - arrival)
        missing = max(qm.missing_fraction for qm in q.values())
        return self._record(outcome, quality, latency, missing)

    def _window_end(self) -> float:
        return self._t_base + (self.hop - self._base_hop + 1) * self.hop_s

    def _record(
        self,
        outcome: Outcome,
        quality: dict[str, dict],
        latency: dict[str, float],
        missing: float,
    ) -> Decision:
        return Decision(
            hop=self.hop,
            window_end_s=self._window_end(),
            window_end_ts=next(iter(self.lanes.values())).last_ts_consumed,
            probabilities=outcome.probabilities,
            labels=outcome.labels,
            reason=outcome.reason,
            detail=outcome.detail,
            modalities=outcome.modalities,
            policy=self.config.policy,
            model=outcome.model,
            quality=quality,
            latency_ms=latency,
            backend=self.engine.name,
            missing_fraction=missing,
            markers=self._take_markers(),
        )


def warm_up(
    bundle: Bundle, engine: Predictor, extractor_factory: ExtractorFactory | None = None
) -> None:
    """Run the engine, the feature path and the loop's own kernels once on zeros.

    Numba kernels compile (or load from their cache) on first use and engines optimise
    their graph on the first call; doing it before a board is started keeps that pause
    (seconds on a cold cache) out of the stream, where a device could time out.
    """
    fc = bundle.feature_config
    engine.predict(
        np.zeros((1, *fc.eeg_shape), np.float32) if fc.has_eeg else None,
        np.zeros((1, 1, *fc.hrv_shape), np.float32) if fc.has_ecg else None,
    )
    extractor = (extractor_factory or StreamingFeatureExtractor)(fc)
    if fc.has_eeg:
        extractor.push_eeg(np.zeros((len(fc.eeg_channels), round(fc.window_s * fc.eeg_fs))))
    if fc.has_ecg:
        extractor.push_ecg(np.zeros(round(fc.window_s * fc.ecg_fs)))
    extractor.features()
    StreamingResampler(250.0, fc.eeg_fs, 2).process(np.zeros((2, 300)))
    stats = BlockStatistics(2, 4, 1.0)
    x = np.zeros((2, 8))
    stats.add(x, np.zeros(x.shape, dtype=bool), x)
    stats.close_block()
    stats.window(0.5)
