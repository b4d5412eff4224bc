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

    One lane per modality the bundle takes (``FeatureConfig.modalities``): an EEG-only
    bundle needs no ECG channel, an ECG-only bundle no EEG. EEG channels are matched by
    name (case-insensitive) and must all be in one stream; the ECG channel by the bundle's
    ECG name, else the one channel with role ``ecg``. A board whose rate cannot carry the
    highest EEG band, or whose ECG rate is under the R-peak detector's ``FS_MIN_HZ``
    (100 Hz), is refused, as is a rate with no rational ratio to the model's.
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
    eeg_names = fc.eeg_channels if fc.has_eeg else ()
    missing = [n for n in eeg_names if n.upper() not in where]
    problems = []
    if missing:
        problems.append(
            f"the source has no channel for EEG electrode(s) {', '.join(missing)}; the model "
            f"needs {', '.join(eeg_names)}. Map board channels to them with "
            f"--channel-map ({missing[0]}=<ExG channel number>,...). Channels now: {available}"
        )
    n_source = sum(len(s.channels) for s in streams)
    n_needed = len(eeg_names) + (1 if fc.has_ecg else 0)
    if n_source < n_needed:
        needs = " + ".join(
            ([f"{len(eeg_names)} EEG"] if fc.has_eeg else []) + (["1 ECG"] if fc.has_ecg else [])
        )
        problems.append(
            f"the source has {n_source} channels but the model needs {needs}: use a board "
            f"with at least {n_needed} ExG inputs (e.g. CYTON_DAISY_BOARD) or a bundle "
            "trained on fewer electrodes"
        )
    ecg_at = None
    if fc.has_ecg:
        if fc.ecg_channel.upper() in where:
            ecg_at = where[fc.ecg_channel.upper()]
        elif len(ecg_candidates) == 1:
            ecg_at = ecg_candidates[0][:2]
        else:
            problems.append(
                f"the source has no ECG channel named {fc.ecg_channel!r}"
                + (" (and several with role ecg)" if ecg_candidates else "")
                + f"; map the board channel wired to the ECG electrodes with --channel-map "
                f"{fc.ecg_channel}=<channel>. Channels now: {available}"
            )
    if problems:
        raise ConfigurationError("\n".join(problems))
    plans: dict[str, LanePlan] = {}
    if fc.has_eeg:
        eeg_at = [where[n.upper()] for n in eeg_names]
        eeg_streams = {s for s, _ in eeg_at}
        if len(eeg_streams) != 1:
            raise ConfigurationError(
                "the EEG channels come from several streams; all EEG electrodes must be "
                "sampled together by one board"
            )
        eeg_stream = eeg_streams.pop()
        top_band = max(b[2] for b in fc.bands)
        fs_eeg = streams[eeg_stream].sampling_rate
        if fs_eeg / 2 <= top_band:
            raise ConfigurationError(
                f"the EEG stream runs at {fs_eeg:g} Hz, too slow for the model's highest band "
                f"(up to {top_band:g} Hz needs more than {2 * top_band:g} Hz); configure the "
                "board for a higher sampling rate"
            )
        _check_ratio("EEG", fs_eeg, fc.eeg_fs)
        plans["eeg"] = LanePlan(
            "eeg", eeg_stream, tuple(c for _, c in eeg_at), tuple(eeg_names), fs_eeg, fc.eeg_fs
        )
    if ecg_at is not None:
        fs_ecg = streams[ecg_at[0]].sampling_rate
        if fs_ecg < FS_MIN_HZ:
            raise ConfigurationError(
                f"the ECG stream runs at {fs_ecg:g} Hz; R-peak detection needs at least "
                f"{FS_MIN_HZ:g} Hz"
            )
        _check_ratio("ECG", fs_ecg, fc.ecg_fs)
        plans["ecg"] = LanePlan(
            "ecg", ecg_at[0], (ecg_at[1],), (fc.ecg_channel,), fs_ecg, fc.ecg_fs
        )
    return plans


def _check_ratio(label: str, fs_in: float, fs_out: float) -> None:
    try:
        rational_ratio(fs_in, fs_out)
    except ValueError as exc:
        raise ConfigurationError(f"{label}: {exc}") from None
