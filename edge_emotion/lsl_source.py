"""Lab Streaming Layer (LSL) streams as a :class:`~edge_emotion.source.Source`.

Spec strings (what ``--source`` takes)::

    lsl:EEG                      the stream whose name or type is "EEG"
    lsl:MyAmp,ECG                two streams (e.g. EEG from one amplifier, ECG from another)
    lsl:EEG?markers=Markers      ... and a marker stream (name or type), into the records
    lsl:EEG?timeout=10           seconds to look for each stream (default 5)

Channels are named by the stream's description (``desc/channels/channel/label``, the
XDF convention) where it has them; ``--channel-map NAME=N`` names (or renames) the N-th
channel, counted over the streams in the order given (with a 14-channel EEG stream and a
1-channel ECG stream, ``ECG=15``). A channel's role is ``ecg`` when its name is the
model's ECG name or its ``type`` (or the stream's) is ECG; units in V or mV are scaled to
µV. Timestamps are LSL's clock (``local_clock`` of this host, clock offsets of remote
outlets applied by ``proc_clocksync``).

Dropped samples are found from the timestamps: a step between consecutive samples
beyond one sample period plus ``jitter_s`` (50 ms) is ``round(step × rate) − 1`` lost
samples (the chunk is split there and the next piece carries ``lost_samples``); a step
that is not finite, or that goes back by more than ``resync_s`` (0.5 s), is a
``discontinuity``. Smaller steps either way are jitter: an outlet that lets LSL stamp
its chunks at push time (no per-sample timestamps) moves each chunk's stamps by its
push timing, tens of ms on a busy host, so a drop shorter than ``jitter_s`` passes as
jitter. The
runtime then fills a short gap, or records a long one as a single ``GAP`` record
(a count, never materialised here). Marker samples go to the next chunk's
``meta["markers"]`` as ``(timestamp, text)``, at most ``MAX_PENDING_MARKERS`` waiting.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import parse_qs

import numpy as np

from edge_emotion.source import ChannelInfo, Chunk, SourceError, StreamInfo, uv_per_unit

log = logging.getLogger("edge_emotion.run")

SCHEME = "lsl:"
MAX_PENDING_MARKERS = 256


@dataclass(frozen=True)
class LslConfig:
    """Which LSL streams to read (each by name or type) and how."""

    streams: tuple[str, ...]
    markers: str | None = None
    resolve_timeout_s: float = 5.0
    channel_map: dict = field(default_factory=dict)
    ecg_names: tuple[str, ...] = ("ECG",)
    jitter_s: float = 0.05
    resync_s: float = 0.5
    max_buffer_s: int = 30
    max_chunk: int = 4096

    def __post_init__(self) -> None:
        if not self.streams:
            raise ValueError("lsl: name at least one stream (lsl:NAME_OR_TYPE)")
        for q in (*self.streams, self.markers or ""):
            if "'" in q or '"' in q:
                raise ValueError(f"lsl: stream name or type {q!r} must not contain quotes")
        if not self.resolve_timeout_s > 0:
            raise ValueError(f"lsl: timeout must be > 0 s, got {self.resolve_timeout_s}")


def parse_lsl_spec(
    spec: str, channel_map: dict | None = None, ecg_names: tuple[str, ...] = ("ECG",)
) -> LslConfig:
    """``"lsl:EEG,ECG?markers=Markers&timeout=5"`` -> :class:`LslConfig`."""
    if not spec.startswith(SCHEME):
        raise ValueError(f"lsl source: expected lsl:NAME_OR_TYPE[,...], got {spec!r}")
    body, _, query = spec[len(SCHEME) :].partition("?")
    streams = tuple(s.strip() for s in body.split(",") if s.strip())
    opts = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(opts) - {"markers", "timeout"}
    if unknown:
        raise ValueError(
            f"lsl source: unknown option(s) {sorted(unknown)}; known: markers, timeout"
        )
    try:
        timeout = float(opts.get("timeout", 5.0))
    except ValueError:
        raise ValueError(f"lsl source: timeout={opts['timeout']!r} is not a number") from None
    return LslConfig(
        streams=streams,
        markers=opts.get("markers") or None,
        resolve_timeout_s=timeout,
        channel_map=dict(channel_map or {}),
        ecg_names=tuple(ecg_names),
    )


def _pylsl():
    try:
        import pylsl
    except (ImportError, RuntimeError) as exc:  # RuntimeError: liblsl not found
        raise SourceError(f"LSL needs pylsl and liblsl ({exc}); pip install pylsl") from None
    return pylsl


def _resolve(pylsl, query: str, timeout_s: float):
    found = pylsl.resolve_bypred(f"name='{query}' or type='{query}'", 1, timeout_s)
    if not found:
        raise SourceError(
            f"lsl: no stream named or typed {query!r} found within {timeout_s:g} s "
            "(is the outlet running on this network?)"
        )
    # An exact name beats a type; then a stable order.
    found.sort(key=lambda i: (i.name() != query, i.name(), i.source_id()))
    if len(found) > 1:
        log.info("lsl: %d streams match %r; reading %s", len(found), query, found[0].name())
    return found[0]


def _channels(info) -> list[tuple[str, str, str]]:
    """(label, type, unit) per channel from the description ('' where absent)."""
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(out) < info.channel_count():
        out.append((ch.child_value("label"), ch.child_value("type"), ch.child_value("unit")))
        ch = ch.next_sibling()
    out += [("", "", "")] * (info.channel_count() - len(out))
    return out


class LslSource:
    """Reads LSL streams (see the module docstring)."""

    buffered = True  # the inlets hold the samples between reads (pacing)

    def __init__(self, config: LslConfig) -> None:
        self.config = config
        self._inlets: list = []
        self._marker_inlet = None
        self._streams: tuple[StreamInfo, ...] = ()
        self._scales: list[np.ndarray] = []
        self._last_ts: list[float | None] = []
        self._markers: list[tuple[float, str]] = []
        self.samples_lost = 0
        self.discontinuities = 0

    def start(self) -> tuple[StreamInfo, ...]:
        pylsl = _pylsl()
        cfg = self.config
        self.stop()
        infos = [_resolve(pylsl, q, cfg.resolve_timeout_s) for q in cfg.streams]
        inlets, streams, scales = [], [], []
        position = 0
        renamed = {int(v): k for k, v in cfg.channel_map.items() if not isinstance(v, str)}
        ecg = {n.upper() for n in cfg.ecg_names}
        for info in infos:
            if info.channel_format() == pylsl.cf_string:
                raise SourceError(f"lsl: stream {info.name()!r} carries text, not samples")
            if not info.nominal_srate() > 0:
                raise SourceError(
                    f"lsl: stream {info.name()!r} has an irregular rate; the runtime needs "
                    "a stream with a nominal sampling rate"
                )
            inlet = pylsl.StreamInlet(
                info, max_buflen=cfg.max_buffer_s, processing_flags=pylsl.proc_clocksync
            )
            full = inlet.info(timeout=cfg.resolve_timeout_s)
            stype = full.type().lower()
            chans, scale = [], []
            for label, ctype, unit in _channels(full):
                position += 1
                name = renamed.get(position) or label or f"{full.name()}:{position}"
                kind = (ctype or stype).lower()
                role = "ecg" if name.upper() in ecg or kind == "ecg" else "eeg"
                if kind not in ("eeg", "ecg", "exg", "") and name.upper() not in ecg:
                    role = "other"
                uv = uv_per_unit(unit)
                chans.append(ChannelInfo(name, role, "uV" if uv is not None or not unit else unit))
                scale.append(1.0 if uv is None else uv)
            inlet.open_stream(timeout=cfg.resolve_timeout_s)
            inlets.append(inlet)
            streams.append(StreamInfo(float(full.nominal_srate()), tuple(chans)))
            scales.append(np.asarray(scale))
        if cfg.markers:
            minfo = _resolve(pylsl, cfg.markers, cfg.resolve_timeout_s)
            self._marker_inlet = pylsl.StreamInlet(
                minfo, max_buflen=cfg.max_buffer_s, processing_flags=pylsl.proc_clocksync
            )
            self._marker_inlet.open_stream(timeout=cfg.resolve_timeout_s)
        self._inlets = inlets
        self._streams = tuple(streams)
        self._scales = scales
        self._last_ts = [None] * len(inlets)
        log.info("lsl: reading %s", ", ".join(i.name() for i in infos))
        return self._streams

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        if not self._inlets:
            raise SourceError("lsl: read() before start()")
        pylsl = _pylsl()
        chunks: list[Chunk] = []
        try:
            self._pull_markers()
            for k, inlet in enumerate(self._inlets):
                wait = timeout_s if k == 0 and not chunks else 0.0
                samples, stamps = inlet.pull_chunk(timeout=wait, max_samples=self.config.max_chunk)
                if stamps:
                    chunks += self._split(k, np.asarray(samples, dtype=np.float64), stamps)
        except pylsl.LostError as exc:
            raise SourceError(f"lsl: the stream was lost ({exc})") from None
        if chunks and self._markers:
            chunks[0].meta["markers"] = self._markers
            self._markers = []
        return chunks

    def _pull_markers(self) -> None:
        if self._marker_inlet is None:
            return
        samples, stamps = self._marker_inlet.pull_chunk(
            timeout=0.0, max_samples=MAX_PENDING_MARKERS
        )
        for sample, t in zip(samples, stamps, strict=False):
            if len(self._markers) >= MAX_PENDING_MARKERS:
                self._markers.pop(0)
            self._markers.append((float(t), str(sample[0]) if sample else ""))

    def _split(self, k: int, samples: np.ndarray, stamps) -> list[Chunk]:
        """The pulled samples as chunks, cut where timestamps show lost samples."""
        fs = self._streams[k].sampling_rate
        ts = np.asarray(stamps, dtype=np.float64)
        x = samples.T * self._scales[k][:, None]
        prev = self._last_ts[k]
        if not np.isfinite(ts).all():
            # Stamps that are no numbers tell nothing about loss: one resync for the chunk.
            self.discontinuities += 1
            self._last_ts[k] = None
            meta = {"discontinuity": True, "index_jump": "non-finite timestamps"}
            return [Chunk(k, x, ts, 0, meta)]
        steps = np.diff(ts, prepend=ts[0] if prev is None else prev)
        if prev is None:
            steps[0] = 1.0 / fs
        tol = 1.0 / fs + self.config.jitter_s
        cuts = np.flatnonzero(~np.isfinite(steps) | (steps > tol) | (steps < -self.config.resync_s))
        out = []
        bounds = [0, *cuts.tolist(), ts.size]
        cut_at = set(cuts.tolist())
        for a, b in pairwise(bounds):
            if a == b:
                continue
            lost, meta = 0, {}
            if a in cut_at:
                step = float(steps[a])
                if math.isfinite(step * fs) and step > 0:
                    lost = max(0, round(step * fs) - 1)
                    self.samples_lost += lost
                else:
                    meta = {"discontinuity": True, "index_jump": f"timestamp step {step!r} s"}
                    self.discontinuities += 1
            out.append(Chunk(k, x[:, a:b], ts[a:b], lost_samples=lost, meta=meta))
        self._last_ts[k] = float(ts[-1])
        return out

    def stop(self) -> None:
        for inlet in [*self._inlets, self._marker_inlet]:
            if inlet is not None:
                try:
                    inlet.close_stream()
                except Exception as exc:  # closing a lost stream may fail; nothing to keep
                    log.debug("lsl: close_stream failed: %s", exc)
        self._inlets, self._marker_inlet = [], None
