"""Labelled segments: the labels table joined with the recordings, at the model's rates.

:func:`load_labelled_segments` is what a dataset calls: it reads the labels table
(:mod:`.labels`), reads each recording it names once (:func:`.readers.read_recording`),
and returns every labelled span as EEG (and ECG) at the model's rates
(:func:`.model_rate.model_rate_signals`) with its binary labels, plus a
:class:`RecordingsSummary` of what was read, resampled and skipped.

What is an error (the table and the files disagree; fix the table): a recording the table
names that is not in the data folder, a span outside its recording, a malformed table.
All such problems are listed in one :class:`~.labels.LabelsError`.

What is skipped, counted by reason, with the detail (the data cannot serve this
configuration): ``unreadable`` (corrupt file, a file that is not what its extension says,
an unknown unit), ``missing_channel`` (an EEG electrode or the ECG channel the
configuration needs), ``unusable`` (several ECG channels and none named, a rate with no
rational ratio to the model's, ...), ``missing_samples`` (more NaN than
``max_missing_fraction`` in the span), ``too_short`` (shorter than ``min_duration_s``).

Recordings at different rates are all resampled to the model's; the summary counts the
rates found per modality.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_emotion.training.recordings.labels import LabelRow, LabelsError, read_labels
from edge_emotion.training.recordings.model_rate import ModelRateSignals, model_rate_signals
from edge_emotion.training.recordings.readers import read_recording
from edge_emotion.training.recordings.recording import (
    ChannelNotFound,
    Recording,
    RecordingError,
)

_MAX_LISTED = 10


@dataclass(frozen=True)
class SegmentRequest:
    """What the model needs from each labelled span.

    Attributes:
        eeg_channels: electrodes in model order (e.g. ``FeatureConfig.eeg_channels``), or
            ``None``: every EEG channel of the first recording read, required of all others.
        need_ecg: also read the ECG channel.
        need_eeg: read the EEG channels (``False`` for an ECG-only model: recordings then
            need no EEG).
        eeg_fs, ecg_fs: the model's rates in Hz.
        ecg_channel: the ECG channel's name; ``None``: the one channel of kind ``ecg``.
        threshold: ratings ``>=`` it are high (1); 0/1 targets need none.
        min_duration_s: shorter spans are skipped (``too_short``).
        max_missing_fraction: spans with a larger share of missing model-rate samples are
            skipped (``missing_samples``); 0 skips any span with a missing sample.
        default_unit: unit of channels whose file gives none (``None``: that is an error).
        master_board, channel_map: for BrainFlow files without a sidecar (see
            :func:`.readers.read_brainflow`).
    """

    eeg_channels: tuple[str, ...] | None
    need_ecg: bool = True
    need_eeg: bool = True
    eeg_fs: float = 128.0
    ecg_fs: float = 128.0
    ecg_channel: str | None = None
    threshold: float | None = None
    min_duration_s: float = 0.0
    max_missing_fraction: float = 0.0
    default_unit: str | None = None
    master_board: str | None = None
    channel_map: str | None = None

    def __post_init__(self) -> None:
        if not (self.need_eeg or self.need_ecg):
            raise ValueError("a segment request needs EEG, ECG or both")
        if self.eeg_channels is not None:
            object.__setattr__(self, "eeg_channels", tuple(self.eeg_channels))
            if not self.eeg_channels:
                raise ValueError("eeg_channels must name at least one electrode (or be None)")
        if not 0.0 <= self.max_missing_fraction <= 1.0:
            raise ValueError(
                f"max_missing_fraction must be in [0, 1], got {self.max_missing_fraction}"
            )
        if self.min_duration_s < 0:
            raise ValueError(f"min_duration_s must be >= 0, got {self.min_duration_s}")

    def reader_options(self, path: Path) -> dict:
        options: dict = {"default_unit": self.default_unit}
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            options.update(master_board=self.master_board, channel_map=self.channel_map)
        return options


@dataclass
class LabelledSegment:
    """One labelled span at the model's rates; ``labels`` (targets,) int64 binary,
    ``ratings`` the table's values."""

    recording: str
    subject: str
    line: int
    start_s: float
    end_s: float
    labels: np.ndarray
    ratings: tuple[float, ...]
    signals: ModelRateSignals


@dataclass
class RecordingsSummary:
    """What was read, resampled and skipped (with reasons)."""

    targets: tuple[str, ...] = ()
    recordings: list[str] = field(default_factory=list)
    segments: int = 0
    # (recording, table line, reason, detail)
    skipped: list[tuple[str, int, str, str]] = field(default_factory=list)
    # modality -> {rate in the file (Hz): recordings}
    source_rates: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    eeg_channels: tuple[str, ...] = ()
    ecg_channels: Counter = field(default_factory=Counter)
    model_rates: dict[str, float] = field(default_factory=dict)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(reason for _, _, reason, _ in self.skipped))

    @property
    def resampled(self) -> dict[str, list[float]]:
        """Per modality, the file rates that differ from the model's."""
        return {
            m: sorted(r for r in rates if r != self.model_rates.get(m))
            for m, rates in self.source_rates.items()
        }

    def to_dict(self) -> dict:
        return {
            "targets": list(self.targets),
            "recordings": len(self.recordings),
            "segments": self.segments,
            "segments_skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason,
            "skipped": [list(s) for s in self.skipped],
            "source_rates": {
                m: {f"{r:g}": n for r, n in c.items()} for m, c in self.source_rates.items()
            },
            "model_rates": dict(self.model_rates),
            "eeg_channels": list(self.eeg_channels),
            "ecg_channels": dict(self.ecg_channels),
        }

    def __str__(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped_by_reason.items()))
        rates = "; ".join(
            f"{m} at "
            + ", ".join(f"{r:g} Hz ({n})" for r, n in sorted(c.items()))
            + f" -> {self.model_rates.get(m, 0):g} Hz"
            for m, c in self.source_rates.items()
        )
        return (
            f"{len(self.recordings)} recordings, {self.segments} segments, "
            f"{len(self.skipped)} skipped"
            + (f" ({reasons})" if reasons else "")
            + (f"; {rates}" if rates else "")
        )


def _span_problem(rec: Recording, row: LabelRow, name: str) -> str | None:
    """Why ``row``'s span does not fit in ``rec`` (one source sample of slack), or None."""
    tol = 1e-6 + 1.0 / min(s.sampling_rate for s in rec.streams)
    start = rec.start_s if row.start_s is None else row.start_s
    end = rec.end_s if row.end_s is None else row.end_s
    if start < rec.start_s - tol or end > rec.end_s + tol or start >= end:
        return (
            f"line {row.line}: span {start:g}-{end:g} s is outside {name} "
            f"({rec.start_s:g}-{rec.end_s:g} s)"
        )
    return None


def load_labelled_segments(
    data_dir: str | Path,
    labels_csv: str | Path,
    request: SegmentRequest,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[LabelledSegment], RecordingsSummary]:
    """Every labelled span of the table at ``labels_csv`` whose recording (under
    ``data_dir``) can serve ``request``; see the module docstring for errors and skips.
    ``progress`` is called with a line per recording read."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise LabelsError(f"data folder {data_dir} not found")
    table = read_labels(labels_csv)
    binary = table.binary(request.threshold)
    by_recording: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(table.rows):
        by_recording[row.recording].append(i)
    unknown = [
        f"line {table.rows[idx[0]].line}: {name}"
        for name, idx in by_recording.items()
        if not (data_dir / name).is_file()
    ]
    if unknown:
        raise LabelsError(
            f"{table.path}: {len(unknown)} recording(s) not found under {data_dir}: "
            + "; ".join(unknown[:_MAX_LISTED])
            + (" ..." if len(unknown) > _MAX_LISTED else "")
        )
    summary = RecordingsSummary(targets=table.targets)
    summary.model_rates = ({"eeg": request.eeg_fs} if request.need_eeg else {}) | (
        {"ecg": request.ecg_fs} if request.need_ecg else {}
    )
    eeg_channels = request.eeg_channels
    segments: list[LabelledSegment] = []
    problems: list[str] = []
    for n_done, (name, idx) in enumerate(by_recording.items(), start=1):
        rows = [table.rows[i] for i in idx]
        path = data_dir / name
        try:
            rec = read_recording(path, **request.reader_options(path))
        except RecordingError as exc:
            summary.skipped += [(name, r.line, "unreadable", str(exc)) for r in rows]
            continue
        summary.recordings.append(name)
        if progress is not None:
            progress(f"[{n_done}/{len(by_recording)}] {name}: {rec.end_s - rec.start_s:.1f} s")
        counted = False
        for i, row in zip(idx, rows, strict=True):
            problem = _span_problem(rec, row, name)
            if problem is not None:
                problems.append(problem)
                continue
            start = rec.start_s if row.start_s is None else row.start_s
            end = rec.end_s if row.end_s is None else row.end_s
            try:
                sig = model_rate_signals(
                    rec,
                    eeg_channels,
                    request.need_ecg,
                    request.eeg_fs,
                    request.ecg_fs,
                    ecg_channel=request.ecg_channel,
                    start_s=start,
                    end_s=end,
                    need_eeg=request.need_eeg,
                )
            except ChannelNotFound as exc:
                summary.skipped.append((name, row.line, "missing_channel", str(exc)))
                continue
            except RecordingError as exc:
                summary.skipped.append((name, row.line, "unusable", str(exc)))
                continue
            if eeg_channels is None and request.need_eeg:
                eeg_channels = summary.eeg_channels = sig.eeg_channels
            if not counted:
                for modality, rate in sig.source_rates.items():
                    summary.source_rates[modality][rate] += 1
                if sig.ecg_channel is not None:
                    summary.ecg_channels[sig.ecg_channel] += 1
                counted = True
            if sig.duration_s < request.min_duration_s:
                detail = f"{sig.duration_s:g} s < min_duration_s {request.min_duration_s:g} s"
                summary.skipped.append((name, row.line, "too_short", detail))
                continue
            if sig.missing_fraction > request.max_missing_fraction:
                detail = (
                    f"{100 * sig.missing_fraction:.1f}% of the samples in {start:g}-{end:g} s "
                    f"are missing (allowed {100 * request.max_missing_fraction:g}%)"
                )
                summary.skipped.append((name, row.line, "missing_samples", detail))
                continue
            segments.append(
                LabelledSegment(
                    name,
                    row.subject,
                    row.line,
                    sig.start_s,
                    sig.start_s + sig.duration_s,
                    binary[i],
                    row.values,
                    sig,
                )
            )
    if problems:
        raise LabelsError(
            f"{table.path}: {len(problems)} labelled span(s) outside their recording: "
            + "; ".join(problems[:_MAX_LISTED])
            + (" ..." if len(problems) > _MAX_LISTED else "")
        )
    summary.eeg_channels = tuple(eeg_channels or ())
    summary.segments = len(segments)
    return segments, summary
