"""Where each modality comes from: the source's channels matched to a bundle's.

A "lane" is one modality's path through the runtime (EEG: the bundle's electrodes, in
model order, from one stream; ECG: one channel). :func:`plan_lanes` finds the stream,
rows and rates of each, or says what to change when the source cannot feed the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.kernels.resample import rational_ratio
from edge_emotion.kernels.rpeaks import FS_MIN_HZ
from edge_emotion.source import StreamInfo


class ConfigurationError(ValueError):
    """The source's channels or rates cannot satisfy the bundle; says what to change."""


@dataclass(frozen=True)
class LanePlan:
    """Where one modality comes from: stream index, row indices in model order, rates."""

    modality: str
    stream: int
    rows: tuple[int, ...]
    names: tuple[str, ...]
    fs_in: float
    fs_out: float


def plan_lanes(
    streams: tuple[StreamInfo, ...], feature_config: FeatureConfig
) -> dict[str, LanePlan]:
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
