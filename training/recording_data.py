"""Users' recordings and a labels table as a training dataset: windows, features, cache.

``--data DIR --labels FILE.csv`` (:mod:`edge_emotion.training.recordings.labels` says what
the table holds). Every labelled span is read at the model's rates through the runtime's
resampler (:func:`~edge_emotion.training.recordings.load_labelled_segments`) and cut into
windows of ``FeatureConfig.window_s`` every ``segment_hop_s``; features come from
:func:`~edge_emotion.kernels.features.trial_features` (the device's feature path).

Windows. A span's first window ends at ``window_s`` after its start, or, when the model
takes ECG, ``window_s + d`` (``d``, about 2.5 s, is the streaming R-peak detector's
look-ahead: the ECG window of a window ending at ``t`` is ``[t - d - window_s, t - d)``,
so it then lies inside the span too). Its label is the span's.

Gates. A window the device would abstain on is dropped and counted, with its reason, in
the load summary (``windows_skipped``): more than ``QualityConfig.max_missing_fraction``
of its samples missing (NaN in the file; filled as the device fills them), and for ECG
the device's heart checks (:func:`edge_emotion.quality.assess_heart`: too few beats, too
many RR intervals corrected as artefacts, an implausible heart rate). A recording whose
ECG is unusable loses its windows to the heart gate, not to silence.

Session baseline (``normalization.mode = "session_baseline"``, see
:mod:`edge_emotion.normalization`): :func:`apply_session_baseline` expresses each session's
windows against the session's first ``baseline_s`` seconds and drops those (the device
abstains while it collects them). A session is a subject's spans in table order (``scope
"subject"``: one continuous session per person, as on a device worn from the start) or
one recording (``"recording"``). The cache holds raw features, so one cache serves both.

Cache: ``<cache_dir>/recordings-<feature digest[:12]>-<identity[:12]>.npz``, the identity
covering the files the table names (name, size, modification time), the table's bytes,
the channel request and the segmentation and gate settings.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.kernels import StreamingRPeakDetector
from edge_emotion.kernels.features import ecg_window, samples_before
from edge_emotion.normalization import Baseline, baseline_correct
from edge_emotion.quality import ModalityQuality, QualityConfig, assess_heart
from edge_emotion.training.feature_cache import (
    FEATURE_CACHE_FORMAT,
    FeatureArrays,
    compute_features,
    read_cache,
    write_cache,
)
from edge_emotion.training.recordings import (
    SegmentRequest,
    load_labelled_segments,
    read_labels,
)

SCOPES = ("subject", "recording")


@dataclass(frozen=True)
class RecordingsConfig:
    """Where the recordings and their labels are and how they become windows.

    Attributes:
        data_dir: folder the table's ``recording`` paths are relative to.
        labels_csv: the labels table.
        cache_dir: folder for the feature cache.
        segment_hop_s: seconds between consecutive training windows.
        threshold: ratings ``>=`` it are high (targets holding only 0/1 need none).
        eeg_channels: electrodes in model order; ``None``: every EEG channel of the first
            recording read (required of all others).
        ecg_channel: the ECG channel's name in the files; ``None``: the one ECG channel.
        quality: the device's thresholds for the window gates (missing samples, beats,
            heart rate).
        workers: processes extracting features.
        default_unit, master_board, channel_map: for files that lack them (see
            :class:`~edge_emotion.training.recordings.SegmentRequest`).
    """

    data_dir: str
    labels_csv: str
    cache_dir: str = "feature_cache"
    segment_hop_s: float = 2.0
    threshold: float | None = 5.0
    eeg_channels: tuple[str, ...] | None = None
    ecg_channel: str | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
    workers: int = 1
    default_unit: str | None = None
    master_board: str | None = None
    channel_map: str | None = None

    def __post_init__(self) -> None:
        if not self.segment_hop_s > 0:
            raise ValueError(f"segment_hop_s must be > 0 s, got {self.segment_hop_s}")
        if self.eeg_channels is not None:
            object.__setattr__(self, "eeg_channels", tuple(self.eeg_channels))


def _request(cfg: RecordingsConfig, fc) -> SegmentRequest:
    return SegmentRequest(
        eeg_channels=cfg.eeg_channels if fc.has_eeg else None,
        need_ecg=fc.has_ecg,
        need_eeg=fc.has_eeg,
        eeg_fs=fc.eeg_fs,
        ecg_fs=fc.ecg_fs,
        ecg_channel=cfg.ecg_channel,
        threshold=cfg.threshold,
        min_duration_s=fc.window_s + lead_s(fc),
        max_missing_fraction=1.0,  # missing samples are gated per window instead
        default_unit=cfg.default_unit,
        master_board=cfg.master_board,
        channel_map=cfg.channel_map,
    )


def lead_s(fc) -> float:
    """Seconds before a span's first window can start: the R-peak detector's look-ahead
    when the model takes ECG (see the module docstring), else 0."""
    if not fc.has_ecg:
        return 0.0
    return StreamingRPeakDetector(fc.ecg_fs).delay_samples / fc.ecg_fs


def identity(cfg: RecordingsConfig, fc) -> str:
    """sha256 over the files the table names, the table, and the settings that shape the
    windows (see the module docstring)."""
    table = read_labels(cfg.labels_csv)
    h = hashlib.sha256(Path(cfg.labels_csv).read_bytes())
    for name in sorted({r.recording for r in table.rows}):
        p = Path(cfg.data_dir) / name
        st = p.stat() if p.is_file() else None
        h.update(f"{name}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}\n".encode())
    settings = {
        "segment_hop_s": float(cfg.segment_hop_s),
        "threshold": cfg.threshold,
        "eeg_channels": list(cfg.eeg_channels) if cfg.eeg_channels else None,
        "ecg_channel": cfg.ecg_channel,
        "quality": asdict(cfg.quality),
        "units": [cfg.default_unit, cfg.master_board, cfg.channel_map],
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def cache_path(cfg: RecordingsConfig, fc) -> Path:
    name = f"recordings-{fc.digest()[:12]}-{identity(cfg, fc)[:12]}.npz"
    return Path(cfg.cache_dir) / name


def _missing_share(mask: np.ndarray | None, a: int, b: int) -> float:
    """Share of missing samples in ``[a, b)`` on the worst channel of a (channels, n) or
    (n,) mask."""
    if mask is None or b <= a:
        return 0.0
    m = mask.reshape(-1, mask.shape[-1])[:, a:b]
    return float(m.mean(axis=1).max())


def _gate(sig, fc, ends, hrv, n_artefacts, quality: QualityConfig) -> list[str | None]:
    """Per window: ``None`` when the device would classify it, else the reason it would
    abstain (``samples_missing``, ``too_few_beats``, ``beats_unreliable``,
    ``heart_rate_implausible``)."""
    delay = StreamingRPeakDetector(fc.ecg_fs).delay_samples if fc.has_ecg else 0
    out: list[str | None] = []
    for w, end in enumerate(ends):
        missing = 0.0
        if fc.has_eeg:
            b = samples_before(end, fc.eeg_fs)
            missing = _missing_share(sig.eeg_missing, b - fc.eeg_window_samples, b)
        if fc.has_ecg:
            a, b = ecg_window(samples_before(end, fc.ecg_fs), delay, fc.ecg_window_samples)
            missing = max(missing, _missing_share(sig.ecg_missing, a, b))
        if missing > quality.max_missing_fraction:
            out.append("samples_missing")
            continue
        if fc.has_ecg:
            q = ModalityQuality()
            assess_heart(hrv[w], q, quality, int(n_artefacts[w]))
            if not q.ok:
                out.append(q.problems[0].reason.name.lower())
                continue
        out.append(None)
    return out


def prepare_recording_features(
    cfg: RecordingsConfig,
    feature_config,
    *,
    progress: bool = True,
    force: bool = False,
    say=print,
) -> tuple[FeatureArrays, Path, bool]:
    """Load from the cache or compute and cache; returns ``(arrays, cache file, from_cache)``.

    ``arrays.feature_config`` is ``feature_config`` with the EEG channels found (when
    ``cfg.eeg_channels`` is ``None``). Raises ``ValueError`` (a
    :class:`~edge_emotion.training.recordings.LabelsError` for the table) naming what is
    wrong when nothing usable is left.
    """
    fc = feature_config
    path = cache_path(cfg, fc)
    if path.is_file() and not force:
        return read_cache(path), path, True
    t0 = time.perf_counter()
    say(f"reading the recordings of {cfg.labels_csv} under {cfg.data_dir}")
    segments, summary = load_labelled_segments(
        cfg.data_dir, cfg.labels_csv, _request(cfg, fc), progress=say if progress else None
    )
    if not segments:
        raise ValueError(f"no usable labelled span in {cfg.labels_csv}: {summary}")
    if fc.has_eeg:
        fc = replace(fc, eeg_channels=tuple(segments[0].signals.eeg_channels))
    lead = lead_s(fc)
    jobs = []
    for seg in segments:
        duration = seg.signals.duration_s
        count = int(np.floor((duration - lead - fc.window_s) / cfg.segment_hop_s + 1e-9)) + 1
        ends = lead + fc.window_s + cfg.segment_hop_s * np.arange(max(count, 0))
        jobs.append((seg.signals.eeg, seg.signals.ecg, ends))
    results = compute_features(jobs, fc, cfg.workers, progress, unit="span")
    table = read_labels(cfg.labels_csv)
    names = sorted({s.subject for s in segments})
    index = {n: i for i, n in enumerate(names)}
    rows: dict[str, list] = {k: [] for k in ("eeg", "ecg", "ratings", "subject", "trial", "end")}
    skipped: list[list] = []
    for tid, (seg, (de, hrv, _, n_art), (_, _, ends)) in enumerate(
        zip(segments, results, jobs, strict=True)
    ):
        reasons = _gate(seg.signals, fc, ends, hrv, n_art, cfg.quality)
        keep = np.array([r is None for r in reasons], dtype=bool)
        for r in sorted({r for r in reasons if r}):
            skipped.append([seg.recording, seg.line, r, reasons.count(r)])
        rows["eeg"].append(None if de is None else de[keep])
        rows["ecg"].append(None if hrv is None else hrv[keep])
        rows["ratings"].append(np.tile(np.float32(seg.ratings), (int(keep.sum()), 1)))
        rows["subject"].append(np.full(int(keep.sum()), index[seg.subject], np.int64))
        rows["trial"].append(np.full(int(keep.sum()), tid, np.int64))
        rows["end"].append(np.asarray(ends[keep], np.float32))
    load_summary = summary.to_dict()
    load_summary["windows_skipped"] = skipped
    load_summary["windows_skipped_by_reason"] = _count(skipped)
    arrays = FeatureArrays(
        eeg=np.concatenate(rows["eeg"]) if fc.has_eeg else None,
        ecg=np.concatenate(rows["ecg"])[:, None, :] if fc.has_ecg else None,
        ratings=np.concatenate(rows["ratings"]).reshape(-1, len(table.targets)),
        subject=np.concatenate(rows["subject"]),
        trial=np.concatenate(rows["trial"]),
        window_end_s=np.concatenate(rows["end"]),
        subject_names=names,
        meta={
            "format": FEATURE_CACHE_FORMAT,
            "dataset": "recordings",
            "root": str(Path(cfg.data_dir).resolve()),
            "labels_csv": str(Path(cfg.labels_csv).resolve()),
            "synthetic": False,
            "feature_config": fc.to_dict(),
            "feature_digest": fc.digest(),
            "targets": list(table.targets),
            "binary_targets": [t for t in table.targets if table.is_binary(t)],
            "data_identity": identity(cfg, feature_config),
            "segmentation": {
                "window_s": fc.window_s,
                "segment_hop_s": cfg.segment_hop_s,
                "first_window_end_s": lead + fc.window_s,
                "threshold": cfg.threshold,
            },
            "spans": [
                {
                    "recording": s.recording,
                    "subject": s.subject,
                    "line": s.line,
                    "start_s": s.start_s,
                    "duration_s": s.signals.duration_s,
                }
                for s in segments
            ],
            "load_summary": load_summary,
            "extract_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if len(arrays) == 0:
        raise ValueError(
            f"every window of {cfg.labels_csv} was gated out: {load_summary['windows_skipped']}"
        )
    write_cache(arrays, path)
    return arrays, path, False


def _count(skipped: list[list]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, _, reason, n in skipped:
        out[reason] = out.get(reason, 0) + int(n)
    return out


def session_times(arrays: FeatureArrays, scope: str) -> tuple[np.ndarray, np.ndarray]:
    """Per window: its session (int) and the time of its end from the session's start (s):
    spans of a session follow each other in table order (see the module docstring)."""
    if scope not in SCOPES:
        raise ValueError(f"baseline scope must be one of {SCOPES}, got {scope!r}")
    spans = arrays.meta.get("spans")
    if spans is None:
        raise ValueError("a session baseline needs a recordings dataset (--labels)")
    keys = [s["subject"] if scope == "subject" else s["recording"] for s in spans]
    session_of = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    offset = np.zeros(len(spans))
    elapsed: dict[str, float] = {}
    for i, (k, s) in enumerate(zip(keys, spans, strict=True)):
        offset[i] = elapsed.get(k, 0.0)
        elapsed[k] = offset[i] + float(s["duration_s"])
    session = np.array([session_of[keys[t]] for t in arrays.trial], dtype=np.int64)
    return session, offset[arrays.trial] + arrays.window_end_s


def apply_session_baseline(
    arrays: FeatureArrays, baseline_s: float, scope: str = "subject"
) -> tuple[FeatureArrays, dict[str, Any]]:
    """Each session's windows against the mean of its first ``baseline_s`` seconds of
    classifiable windows, which are dropped; returns the corrected windows and a report.

    As on the device (:class:`edge_emotion.normalization.SessionBaseline`, which takes the
    first ``baseline_s / hop_s`` windows that pass the quality checks), the baseline is the
    session's first ``ceil(baseline_s / segment_hop_s)`` windows that passed the gates, in
    session time; a session with fewer windows than that keeps none.
    """
    session, t_end = session_times(arrays, scope)
    hop = float(arrays.meta["segmentation"]["segment_hop_s"])
    n_base = max(1, int(np.ceil(baseline_s / hop - 1e-9)))
    eeg = None if arrays.eeg is None else np.array(arrays.eeg, np.float64)
    ecg = None if arrays.ecg is None else np.array(arrays.ecg, np.float64)
    keep = np.zeros(len(arrays), dtype=bool)
    report: dict[str, Any] = {
        "scope": scope,
        "baseline_s": baseline_s,
        "baseline_windows": n_base,
        "sessions": 0,
        "windows_in_baselines": 0,
        "sessions_too_short": 0,
        "windows_of_short_sessions": 0,
    }
    for s in np.unique(session):
        rows = np.flatnonzero(session == s)
        rows = rows[np.argsort(t_end[rows], kind="stable")]
        if rows.size <= n_base:
            report["sessions_too_short"] += 1
            report["windows_of_short_sessions"] += int(rows.size)
            continue
        base, rest = rows[:n_base], rows[n_base:]
        ref = Baseline.of(None if eeg is None else eeg[base], None if ecg is None else ecg[base])
        e, c = baseline_correct(
            None if eeg is None else eeg[rest], None if ecg is None else ecg[rest], ref
        )
        if e is not None:
            eeg[rest] = e
        if c is not None:
            ecg[rest] = c
        keep[rest] = True
        report["sessions"] += 1
        report["windows_in_baselines"] += n_base
    corrected = replace(
        arrays,
        eeg=None if eeg is None else eeg.astype(np.float32),
        ecg=None if ecg is None else ecg.astype(np.float32),
    )
    return corrected.take(np.flatnonzero(keep)), report
