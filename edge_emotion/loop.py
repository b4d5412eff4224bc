"""The classify loop: chunks in, one Decision per hop out.

:class:`Classifier` holds no I/O: it is fed source chunks (in any sizes, from one or
several streams) and returns the decisions they complete, so tests drive it faster than
real time. Per modality ("lane") it keeps

- the board-rate samples still to be consumed (a queue; a gap becomes a lazily produced
  run of missing samples, so a long disconnect costs no memory),
- a streaming polyphase resampler to the bundle's rate,
- per-hop block statistics for the quality checks (missing, flat, saturated),

and one :class:`~edge_emotion.kernels.features.StreamingFeatureExtractor` for both.
Hops are scheduled on the data clock: hop ``k`` ends when every lane has produced
``k * hop_s * fs_model`` model-rate samples, so replay speed does not change the records.

Missing samples (NaN/inf from the board, lost packets, gaps after a reconnect) are
replaced by the channel's last good value before they reach the filters (a NaN would
poison their state for good) and counted, so the windows that contain them abstain.

:func:`run` drives a :class:`~edge_emotion.source.Source` in real time: it reads, feeds,
writes decisions to sinks, reconnects with exponential back-off after a
:class:`~edge_emotion.source.SourceError`, and stops cleanly on ``duration``, Ctrl-C or
the end of a recording.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from edge_emotion.decision import AbstainReason, Decision
from edge_emotion.kernels.blockstats import BlockStatistics
from edge_emotion.kernels.resample import StreamingResampler, rational_ratio
from edge_emotion.kernels.rpeaks import FS_MIN_HZ
from edge_emotion.quality import (
    ModalityQuality,
    QualityConfig,
    abstention,
    assess_features,
    assess_heart,
    assess_signal,
)
from edge_emotion.source import Chunk, SourceError, SourceExhausted, StreamInfo

log = logging.getLogger("edge_emotion.run")

POLICIES = ("abstain", "fallback")


class ConfigurationError(ValueError):
    """The source's channels or rates cannot satisfy the bundle; says what to change."""


@dataclass(frozen=True)
class LoopConfig:
    """How the loop runs.

    ``hop_s``: time between decisions (s); None takes the bundle's. ``policy``: what to do
    when exactly one modality is bad — ``"abstain"``, or ``"fallback"`` to a
    single-modality model (needs one per modality in ``fallback_engines``).
    ``gap_tolerance_s``: a jump in source timestamps larger than this counts as lost
    samples. Quality thresholds in ``quality``.
    """

    hop_s: float | None = None
    policy: str = "abstain"
    gap_tolerance_s: float = 0.5
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.hop_s is not None and not self.hop_s > 0:
            raise ValueError(f"hop_s must be a positive number of seconds, got {self.hop_s!r}")
        if not self.gap_tolerance_s > 0:
            raise ValueError(f"gap_tolerance_s must be positive, got {self.gap_tolerance_s!r}")


@dataclass(frozen=True)
class LanePlan:
    """Where one modality comes from: stream index, row indices in model order, rates."""

    modality: str
    stream: int
    rows: tuple[int, ...]
    names: tuple[str, ...]
    fs_in: float
    fs_out: float


def plan_lanes(streams: tuple[StreamInfo, ...], feature_config) -> dict[str, LanePlan]:
    """Match the source's channels to the bundle's, or raise :class:`ConfigurationError`.

    EEG channels are matched by name (case-insensitive) and must all be in one stream;
    the ECG channel by the bundle's ECG name, else the one channel with role ``ecg``.
    A board whose rate cannot carry the highest EEG band, or whose ECG rate is under the
    R-peak detector's ``FS_MIN_HZ`` (100 Hz), is refused, as is a rate with no rational
    ratio to the model's.
    """
    fc = feature_config
    where: dict[str, tuple[int, int]] = {}
    ecg_candidates: list[tuple[int, int, str]] = []
    for si, stream in enumerate(streams):
        for ci, ch in enumerate(stream.channels):
            where.setdefault(ch.name.upper(), (si, ci))
            if ch.role == "ecg":
                ecg_candidates.append((si, ci, ch.name))
    available = ", ".join(f"{c.name}({c.role})" for s in streams for c in s.channels) or "none"
    missing = [n for n in fc.eeg_channels if n.upper() not in where]
    problems = []
    if missing:
        problems.append(
            f"the source has no channel for EEG electrode(s) {', '.join(missing)}; the model "
            f"needs {', '.join(fc.eeg_channels)}. Map board channels to them with "
            f"--channel-map ({missing[0]}=<ExG channel number>,...). Channels now: {available}"
        )
    n_source = sum(len(s.channels) for s in streams)
    if n_source < len(fc.eeg_channels) + 1:
        problems.append(
            f"the source has {n_source} channels but the model needs "
            f"{len(fc.eeg_channels)} EEG + 1 ECG: use a board with at least "
            f"{len(fc.eeg_channels) + 1} ExG inputs (e.g. CYTON_DAISY_BOARD) or a bundle "
            "trained on fewer electrodes"
        )
    if fc.ecg_channel.upper() in where:
        ecg_at = where[fc.ecg_channel.upper()]
    elif len(ecg_candidates) == 1:
        ecg_at = ecg_candidates[0][:2]
    else:
        ecg_at = None
        problems.append(
            f"the source has no ECG channel named {fc.ecg_channel!r}"
            + (" (and several with role ecg)" if ecg_candidates else "")
            + f"; map the board channel wired to the ECG electrodes with --channel-map "
            f"{fc.ecg_channel}=<channel>. Channels now: {available}"
        )
    if problems:
        raise ConfigurationError("\n".join(problems))
    eeg_at = [where[n.upper()] for n in fc.eeg_channels]
    eeg_streams = {s for s, _ in eeg_at}
    if len(eeg_streams) != 1:
        raise ConfigurationError(
            "the EEG channels come from several streams; all EEG electrodes must be sampled "
            "together by one board"
        )
    eeg_stream = eeg_streams.pop()
    top_band = max(b[2] for b in fc.bands)
    fs_eeg = streams[eeg_stream].sampling_rate
    if fs_eeg / 2 <= top_band:
        raise ConfigurationError(
            f"the EEG stream runs at {fs_eeg:g} Hz, too slow for the model's highest band "
            f"(up to {top_band:g} Hz needs more than {2 * top_band:g} Hz); configure the board "
            "for a higher sampling rate"
        )
    fs_ecg = streams[ecg_at[0]].sampling_rate
    if fs_ecg < FS_MIN_HZ:
        raise ConfigurationError(
            f"the ECG stream runs at {fs_ecg:g} Hz; R-peak detection needs at least "
            f"{FS_MIN_HZ:g} Hz"
        )
    for label, fs_in, fs_out in (("EEG", fs_eeg, fc.eeg_fs), ("ECG", fs_ecg, fc.ecg_fs)):
        try:
            rational_ratio(fs_in, fs_out)
        except ValueError as exc:
            raise ConfigurationError(f"{label}: {exc}") from None
    return {
        "eeg": LanePlan(
            "eeg",
            eeg_stream,
            tuple(c for _, c in eeg_at),
            tuple(fc.eeg_channels),
            fs_eeg,
            fc.eeg_fs,
        ),
        "ecg": LanePlan(
            "ecg",
            ecg_at[0],
            (ecg_at[1],),
            (fc.ecg_channel,),
            fs_ecg,
            fc.ecg_fs,
        ),
    }


def _hold_missing(x: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-finite samples by the channel's previous finite one (``last`` before
    the chunk); return (values, missing mask) and update ``last`` in place."""
    missing = ~np.isfinite(x)
    if not missing.any():
        last[:] = x[:, -1]
        return x, missing
    n = x.shape[1]
    idx = np.where(missing, -1, np.arange(n)[None, :])
    np.maximum.accumulate(idx, axis=1, out=idx)
    ext = np.concatenate((last[:, None], x), axis=1)
    values = np.take_along_axis(ext, idx + 1, axis=1)
    last[:] = values[:, -1]
    return values, missing


class _Lane:
    """One modality's path from board samples to model-rate samples and block stats."""

    def __init__(self, plan: LanePlan, window_s: float, hop_s: float, quality: QualityConfig):
        self.plan = plan
        self.n_ch = len(plan.rows)
        self.resampler = StreamingResampler(plan.fs_in, plan.fs_out, self.n_ch)
        n_blocks = round(window_s / hop_s)
        self.stats = BlockStatistics(self.n_ch, n_blocks, quality.saturation_uv)
        self.queue: deque = deque()  # [values, missing, raw, timestamps, arrival] or gap count
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.last_value = np.zeros(self.n_ch)
        self.last_ts: float | None = None
        self.last_ts_consumed: float | None = None  # timestamp of the newest sample taken
        self.last_arrival = 0.0
        self.board_count = 0  # board samples consumed
        self.model_count = 0  # model samples handed to the extractor

    @property
    def produced(self) -> int:
        return self.model_count + self.pending_n

    def enqueue(
        self,
        data: np.ndarray,
        timestamps: np.ndarray,
        lost: int,
        arrival: float,
        gap_tolerance_s: float,
    ) -> None:
        fs = self.plan.fs_in
        if timestamps.size and self.last_ts is not None:
            expected = self.last_ts + 1.0 / fs
            jump = float(timestamps[0]) - expected
            if jump > gap_tolerance_s:
                lost += round(jump * fs)
        if lost > 0:
            self.queue.append([int(lost), arrival])
        if data.shape[1]:
            values, missing = _hold_missing(data, self.last_value)
            self.queue.append([values, missing, data, timestamps, arrival])
            if timestamps.size:
                self.last_ts = float(timestamps[-1])

    def advance(self, m_target: int) -> bool:
        """Consume queued board samples until ``m_target`` model samples exist."""
        while self.produced < m_target and self.queue:
            item = self.queue[0]
            need = self.resampler.inputs_for(m_target) - self.board_count
            if len(item) == 2:  # a gap of missing samples
                take = min(need, item[0])
                values = np.repeat(self.last_value[:, None], take, axis=1)
                missing = np.ones_like(values, dtype=bool)
                raw = values
                self.last_arrival = item[1]
                item[0] -= take
                if item[0] == 0:
                    self.queue.popleft()
            else:
                values_all, missing_all, raw_all, ts, arrival = item
                n = values_all.shape[1]
                take = min(need, n)
                values = values_all[:, :take]
                missing = missing_all[:, :take]
                raw = raw_all[:, :take]
                if ts.size:
                    self.last_ts_consumed = float(ts[take - 1])
                self.last_arrival = arrival
                if take == n:
                    self.queue.popleft()
                else:
                    item[0] = values_all[:, take:]
                    item[1] = missing_all[:, take:]
                    item[2] = raw_all[:, take:]
                    item[3] = ts[take:] if ts.size else ts
            out = self.resampler.process(values)
            if out.shape[1]:
                self.pending.append(out)
                self.pending_n += out.shape[1]
            self.stats.add(values, missing, raw)
            self.board_count += take
        return self.produced >= m_target

    def take(self, m_target: int) -> np.ndarray:
        """Pop the model-rate samples up to ``m_target`` (total) for the extractor."""
        n = m_target - self.model_count
        data = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending, axis=1)
        out, rest = data[:, :n], data[:, n:]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_n = rest.shape[1]
        self.model_count = m_target
        return out


def _default_extractor(feature_config):
    from edge_emotion.kernels.features import StreamingFeatureExtractor

    return StreamingFeatureExtractor(feature_config)


class Classifier:
    """Feed chunks, get decisions. See the module docstring.

    ``engine`` has ``.name`` and ``.predict(eeg (1,bands,ch,sub), ecg (1,1,L)) ->
    (1, n_targets)``. ``fallback_engines`` maps a modality (``"eeg"``/``"ecg"``) to a
    callable taking that modality's features alone and returning (1, n_targets)
    probabilities; used only with ``policy="fallback"``.
    """

    def __init__(
        self,
        bundle,
        engine,
        streams: tuple[StreamInfo, ...],
        config: LoopConfig | None = None,
        fallback_engines: dict[str, Callable] | None = None,
        extractor_factory: Callable | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config or LoopConfig()
        self.bundle = bundle
        self.engine = engine
        self.fc = bundle.feature_config
        self.targets = tuple(bundle.targets)
        self.thresholds = dict(bundle.thresholds)
        self.fallback_engines = dict(fallback_engines or {})
        if self.config.policy == "fallback":
            lacking = [m for m in ("eeg", "ecg") if m not in self.fallback_engines]
            if lacking:
                raise ConfigurationError(
                    f"policy 'fallback' needs a single-modality model for {', '.join(lacking)}; "
                    "this bundle has none — use --on-bad-modality abstain"
                )
        self.hop_s = float(self.config.hop_s or self.fc.hop_s)
        self.plans = plan_lanes(tuple(streams), self.fc)
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
        self._extractor_factory = extractor_factory or _default_extractor
        self._clock = clock
        self.hop = 0
        self.records = 0
        self.reset()

    def warm_up(self) -> None:
        """See :func:`warm_up`."""
        warm_up(self.bundle, self.engine, self._extractor_factory)

    def reset(self) -> None:
        """Start over (new filters, empty windows); the hop count carries on."""
        self.lanes = {
            m: _Lane(p, self.fc.window_s, self.hop_s, self.config.quality)
            for m, p in self.plans.items()
        }
        self.extractor = self._extractor_factory(self.fc)
        self._base_hop = self.hop

    def feed(self, chunk: Chunk, arrival: float | None = None) -> list[Decision]:
        """Add one chunk; return the decisions of every hop it completed (maybe none)."""
        arrival = self._clock() if arrival is None else arrival
        data = np.asarray(chunk.data, dtype=np.float64)
        ts = np.asarray(chunk.timestamps, dtype=np.float64).reshape(-1)
        if data.ndim != 2:
            log.warning("ignored a chunk with data of shape %s (expected 2-D)", data.shape)
            return []
        for lane in self.lanes.values():
            if lane.plan.stream != chunk.stream:
                continue
            lane.enqueue(
                data[list(lane.plan.rows)],
                ts if ts.size == data.shape[1] else np.empty(0),
                int(chunk.lost_samples or 0),
                arrival,
                self.config.gap_tolerance_s,
            )
        return self._drain()

    def _drain(self) -> list[Decision]:
        out = []
        while True:
            k = self.hop - self._base_hop + 1
            targets = {m: k * self.hop_samples[m] for m in self.lanes}
            ready = [lane.advance(targets[m]) for m, lane in self.lanes.items()]
            if not all(ready):
                return out
            out.append(self._decide(targets))
            self.hop += 1
            self.records += 1

    def _decide(self, targets: dict[str, int]) -> Decision:
        clock = self._clock
        t0 = clock()
        eeg_lane, ecg_lane = self.lanes["eeg"], self.lanes["ecg"]
        eeg_new = eeg_lane.take(targets["eeg"])
        ecg_new = ecg_lane.take(targets["ecg"])
        arrival = max(eeg_lane.last_arrival, ecg_lane.last_arrival)
        latency: dict[str, float] = {}
        try:
            self.extractor.push_eeg(eeg_new)
            self.extractor.push_ecg(ecg_new[0])
        except ValueError as exc:  # the extractor refused the data: restart it
            log.warning("feature extractor refused data (%s); restarting filters", exc)
            self.extractor = self._extractor_factory(self.fc)
            self._base_hop = self.hop + 1
            for lane in self.lanes.values():
                lane.model_count = 0
        t_push = clock()
        for lane in self.lanes.values():
            lane.stats.close_block()
        warm = min((lane.model_count / self.window_samples[m]) for m, lane in self.lanes.items())
        if warm < 1.0:
            latency["total"] = 1e3 * (clock() - arrival)
            detail = f"warming up ({warm * self.fc.window_s:.2f}/{self.fc.window_s:g} s of data)"
            return self._record(
                _Outcome.abstain(AbstainReason.NOT_ENOUGH_DATA, detail), {}, latency
            )
        q = {
            m: assess_signal(
                lane.stats.window(self.config.quality.flat_std_uv),
                self._names[m],
                self.config.quality,
            )
            for m, lane in self.lanes.items()
        }
        t_q = clock()
        features = None
        outcome = None
        if q["eeg"].ok or q["ecg"].ok:
            try:
                de_map, hrv = self.extractor.features()
                features = (np.asarray(de_map), np.asarray(hrv))
            except (ValueError, RuntimeError, FloatingPointError) as exc:
                outcome = _Outcome.abstain(AbstainReason.FEATURES_FAILED, f"features failed: {exc}")
        t_f = clock()
        latency["features"] = 1e3 * ((t_push - t0) + (t_f - t_q))
        latency["quality"] = 1e3 * (t_q - t_push)
        if features is not None:
            de_map, hrv = features
            if q["ecg"].ok:
                assess_heart(hrv, q["ecg"], self.config.quality)
            assess_features(de_map, hrv, q)
        quality = {m: qm.to_dict() for m, qm in q.items()}
        if outcome is None:
            if features is not None:
                outcome = self._infer(q, features)
            else:
                outcome = _Outcome.abstain(*abstention(q))
        t_end = clock()
        latency["inference"] = 1e3 * (t_end - t_f)
        latency["total"] = 1e3 * (t_end - arrival)
        return self._record(outcome, quality, latency)

    def _infer(self, q: dict[str, ModalityQuality], features) -> _Outcome:
        de_map, hrv = features
        eeg_in = np.ascontiguousarray(de_map[None], dtype=np.float32)
        ecg_in = np.ascontiguousarray(hrv.reshape(1, 1, -1), dtype=np.float32)
        good = tuple(m for m in ("eeg", "ecg") if q[m].ok)
        try:
            if len(good) == 2:
                probs = self.engine.predict(eeg_in, ecg_in)
            elif len(good) == 1 and self.config.policy == "fallback":
                m = good[0]
                probs = self.fallback_engines[m](eeg_in if m == "eeg" else ecg_in)
            else:
                return _Outcome.abstain(*abstention(q))
        except (ValueError, RuntimeError) as exc:
            log.warning("inference failed at hop %d: %s", self.hop, exc)
            return _Outcome.abstain(AbstainReason.MODEL_ERROR, f"inference failed: {exc}")
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        if p.size != len(self.targets) or not np.isfinite(p).all():
            return _Outcome.abstain(
                AbstainReason.INVALID_OUTPUT, f"engine returned invalid probabilities {p.tolist()}"
            )
        return _Outcome(
            AbstainReason.NONE,
            None,
            {t: float(v) for t, v in zip(self.targets, p, strict=True)},
            {
                t: ("high" if v >= self.thresholds[t] else "low")
                for t, v in zip(self.targets, p, strict=True)
            },
            good,
        )

    def _record(
        self, outcome: _Outcome, quality: dict[str, dict], latency: dict[str, float]
    ) -> Decision:
        return Decision(
            hop=self.hop,
            window_end_s=(self.hop + 1) * self.hop_s,
            window_end_ts=self.lanes["eeg"].last_ts_consumed,
            probabilities=outcome.probabilities,
            labels=outcome.labels,
            reason=outcome.reason,
            detail=outcome.detail,
            modalities=outcome.modalities,
            policy=self.config.policy,
            quality=quality,
            latency_ms=latency,
            backend=self.engine.name,
        )


class _Outcome(NamedTuple):
    """What a hop concluded, before it becomes a :class:`Decision`."""

    reason: AbstainReason
    detail: str | None = None
    probabilities: dict[str, float] | None = None
    labels: dict[str, str] | None = None
    modalities: tuple[str, ...] = ()

    @classmethod
    def abstain(cls, reason: AbstainReason, detail: str) -> _Outcome:
        return cls(reason, detail)


def warm_up(bundle, engine, extractor_factory: Callable | None = None) -> None:
    """Run the engine, the feature path and the loop's own kernels once on zeros.

    Numba kernels compile (or load from their cache) on first use and engines optimise
    their graph on the first call; doing it before a board is started keeps that pause
    (seconds on a cold cache) out of the stream, where a device could time out.
    """
    fc = bundle.feature_config
    engine.predict(
        np.zeros((1, *fc.eeg_shape), np.float32), np.zeros((1, 1, *fc.hrv_shape), np.float32)
    )
    extractor = (extractor_factory or _default_extractor)(fc)
    extractor.push_eeg(np.zeros((len(fc.eeg_channels), round(fc.window_s * fc.eeg_fs))))
    extractor.push_ecg(np.zeros(round(fc.window_s * fc.ecg_fs)))
    extractor.features()
    StreamingResampler(250.0, fc.eeg_fs, 2).process(np.zeros((2, 300)))
    stats = BlockStatistics(2, 4, 1.0)
    x = np.zeros((2, 8))
    stats.add(x, np.zeros(x.shape, dtype=bool), x)
    stats.close_block()
    stats.window(0.5)


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
