"""The data options of ``prepare``, ``train``, ``cv`` and ``evaluate``, and the one loader
behind them.

Two kinds of dataset, one feature path and cache:

- ``--data ROOT``: an AMIGOS-layout folder (real, or written by ``synth``);
- ``--data DIR --labels FILE.csv``: users' recordings (EDF/BDF, BrainFlow files, XDF) and
  a labels table (:mod:`edge_emotion.training.recording_data`).

The feature configuration is ``--feature-config FILE.json`` (any fields of
``FeatureConfig.to_dict()``; the rest default), then ``--modalities`` and
``--eeg-channels`` (a comma list or a montage name of
:data:`edge_emotion.kernels.config.MONTAGES`). For recordings, EEG channels given by
neither come from the data (every EEG channel of the first recording). ``--normalization
session_baseline`` expresses each session against its first ``--baseline-s`` seconds
(:mod:`edge_emotion.normalization`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.training.cli_options import RenamedOption

NORMALIZATION_MODES = ("global", "session_baseline")


def add_data_args(p: argparse.ArgumentParser, *, features: bool = True) -> None:
    """The data options; ``features=False`` leaves out those a model already fixes (the
    feature configuration and modalities, for ``evaluate``)."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        required=True,
        help="AMIGOS preprocessed folder (real or synthetic), or the folder of the recordings "
        "a --labels table names",
    )
    g.add_argument(
        "--labels",
        help="labels table (CSV: recording,subject,start_s,end_s,<targets>): train on users' "
        "recordings (EDF/BDF, BrainFlow, XDF) under --data",
    )
    g.add_argument("--cache-dir", default="feature_cache", help="feature cache folder")
    g.add_argument(
        "--segment-hop", type=float, default=2.0, help="seconds between 10-s training windows"
    )
    g.add_argument(
        "--workers",
        type=int,
        default=max(1, min(8, os.cpu_count() or 1)),
        help="parallel processes computing features (default here: CPU count, at most 8)",
    )
    g.add_argument(
        "--label-method",
        choices=("fixed", "subject_mean", "subject_median"),
        default="fixed",
        help="high/low split: rating >= --threshold, or above each subject's mean / median",
    )
    g.add_argument("--threshold", type=float, default=5.0, help="rating >= threshold is high")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("AMIGOS layout (without --labels)")
    g.add_argument(
        "--ecg-lead",
        choices=("right", "left"),
        default="right",
        help="ECG lead (the other lead replaces it in trials where it is NaN)",
    )
    g.add_argument(
        "--trial-set",
        "--trials",
        dest="trials",
        action=RenamedOption,
        old=("--trials",),
        choices=("short", "long", "all"),
        default="short",
        help="which AMIGOS experiment: the 16 short videos, the 4 long ones, or all",
    )
    g = p.add_argument_group("recordings (with --labels)")
    g.add_argument(
        "--ecg-channel", help="the ECG channel's name in the files (default: the one ECG channel)"
    )
    g.add_argument("--default-unit", help="unit of channels whose file names none (e.g. uV)")
    g.add_argument("--master-board", help="BrainFlow board of files without a JSON sidecar")
    g.add_argument("--channel-map", help="BrainFlow files without a sidecar: NAME=row,...")
    if not features:
        return
    g = p.add_argument_group("features")
    g.add_argument(
        "--feature-config", help="JSON file with FeatureConfig fields (the rest: defaults)"
    )
    g.add_argument(
        "--modalities",
        default="eeg,ecg",
        help="what the model takes: eeg,ecg | eeg | ecg (default eeg,ecg)",
    )
    g.add_argument(
        "--eeg-channels",
        help="electrodes in model order (comma list) or a montage: "
        "emotiv-epoc, cyton, cyton-daisy (recordings default: those of the data)",
    )
    g.add_argument(
        "--normalization",
        choices=NORMALIZATION_MODES,
        default="global",
        help="global statistics, or each session against its first --baseline-s seconds",
    )
    g.add_argument("--baseline-s", type=float, default=60.0, help="session baseline length, s")
    g.add_argument(
        "--baseline-scope",
        choices=("subject", "recording"),
        default="subject",
        help="a session is a subject's spans in table order, or one recording",
    )


def parse_channels(text: str | None) -> tuple[str, ...] | None:
    """``--eeg-channels``: a montage name or a comma list; ``None`` stays ``None``."""
    from edge_emotion.kernels.config import MONTAGES

    if text is None:
        return None
    if text.strip().lower() in MONTAGES:
        return MONTAGES[text.strip().lower()]
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    if not names:
        raise ValueError(f"--eeg-channels {text!r} names no channel")
    return names


def feature_config_from_args(args: argparse.Namespace):
    """``(FeatureConfig, channels_given)``: ``--feature-config`` then ``--modalities`` and
    ``--eeg-channels``; ``channels_given`` is False when neither the file nor the option
    named the EEG channels (recordings then take the data's)."""
    from edge_emotion.kernels.config import FeatureConfig

    raw: dict[str, Any] = {}
    if getattr(args, "feature_config", None):
        path = Path(args.feature_config)
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"--feature-config {path}: not a readable JSON file ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"--feature-config {path}: must hold a JSON object")
    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    raw["modalities"] = list(modalities)
    channels = parse_channels(args.eeg_channels)
    given = channels is not None or "eeg_channels" in raw
    if channels is not None:
        raw["eeg_channels"] = list(channels)
    if "eeg" not in modalities:
        raw["eeg_channels"] = []
    return FeatureConfig.from_dict(raw), given


@dataclass
class LoadedData:
    """A dataset's windows ready for training or scoring."""

    arrays: Any  # FeatureArrays (after the session baseline, if any)
    labels: np.ndarray  # (N, targets) int64
    label_config: Any  # LabelConfig
    feature_config: Any  # FeatureConfig the features follow (channels resolved)
    cache: Path
    cached: bool
    info: dict[str, Any]  # describe() plus what the baseline did
    normalization_mode: tuple[str, float | None]
    dataset_record: dict[str, Any]  # the checkpoint's "dataset" entry


def load_data(
    args: argparse.Namespace,
    feature_config=None,
    channels_given: bool = True,
    normalization: tuple[str, float | None, str] | None = None,
    force: bool = False,
    say=print,
) -> LoadedData:
    """Features of ``--data`` (``--labels``) for ``feature_config`` (default: from the
    options), with the session baseline applied when asked (``normalization``: ``(mode,
    baseline_s, scope)``, default from the options)."""
    from edge_emotion.training.data import DatasetConfig, prepare_features
    from edge_emotion.training.feature_cache import LabelConfig, describe
    from edge_emotion.training.recording_data import (
        RecordingsConfig,
        apply_session_baseline,
        prepare_recording_features,
    )

    if feature_config is None:
        feature_config, channels_given = feature_config_from_args(args)
    if normalization is None:
        normalization = (
            args.normalization,
            args.baseline_s if args.normalization == "session_baseline" else None,
            args.baseline_scope,
        )
    labels = LabelConfig(args.label_method, args.threshold)
    progress = not args.no_progress
    if args.labels:
        rcfg = RecordingsConfig(
            data_dir=args.data,
            labels_csv=args.labels,
            cache_dir=args.cache_dir,
            segment_hop_s=args.segment_hop,
            threshold=args.threshold,
            eeg_channels=feature_config.eeg_channels if channels_given else None,
            ecg_channel=args.ecg_channel,
            workers=args.workers,
            default_unit=args.default_unit,
            master_board=args.master_board,
            channel_map=args.channel_map,
        )
        arrays, path, cached = prepare_recording_features(
            rcfg, feature_config, progress=progress, force=force, say=say
        )
        name = "recordings"
    else:
        dcfg = DatasetConfig(
            root=args.data,
            cache_dir=args.cache_dir,
            segment_hop_s=args.segment_hop,
            ecg_lead=args.ecg_lead,
            trials=args.trials,
            labels=labels,
            workers=args.workers,
        )
        arrays, path, cached = prepare_features(
            dcfg, feature_config, progress=progress, force=force
        )
        name = "amigos-synthetic" if arrays.synthetic else "amigos"
    info = describe(arrays, labels)
    mode, baseline_s, scope = normalization
    if mode == "session_baseline":
        if not args.labels:
            raise ValueError(
                "--normalization session_baseline needs a recordings dataset (--labels)"
            )
        arrays, report = apply_session_baseline(arrays, float(baseline_s), scope)
        if len(arrays) == 0:
            raise ValueError(f"no window is left after the session baselines: {report}")
        info = {**describe(arrays, labels), "session_baseline": report}
    record = {
        "name": name,
        "synthetic": arrays.synthetic,
        "root": arrays.meta.get("root", ""),
        "segments": len(arrays),
        "labels": asdict(labels),
        "segment_hop_s": args.segment_hop,
        "feature_cache": str(path),
        "targets": list(arrays.targets),
    }
    if args.labels:
        record["labels_csv"] = arrays.meta.get("labels_csv", "")
    if mode == "session_baseline":
        record["session_baseline"] = {"baseline_s": baseline_s, "scope": scope}
    return LoadedData(
        arrays=arrays,
        labels=arrays.labels(labels),
        label_config=labels,
        feature_config=arrays.feature_config,
        cache=path,
        cached=cached,
        info=info,
        normalization_mode=(mode, baseline_s),
        dataset_record=record,
    )


# What each skip reason of a trial or span means (datasets/amigos.py, recordings).
SKIP_REASONS = {
    "empty": "trial stored empty (AMIGOS leaves unrecorded trials empty; synth stores "
    "--missing of its trials and every trial beyond --trials empty)",
    "missing": "trial absent from the file",
    "bad_shape": "trial array of an unexpected shape",
    "too_short": "shorter than one window",
    "nan_eeg": "NaN in the EEG",
    "nan_ecg": "NaN in both ECG leads",
    "no_rating": "no arousal/valence rating",
}


def _skipped(by_reason: dict[str, int]) -> str:
    """``"48 (empty: 48, trial stored empty ...)"``: counts with what each reason means."""
    parts = [
        f"{reason}: {n}" + (f", {SKIP_REASONS[reason]}" if reason in SKIP_REASONS else "")
        for reason, n in by_reason.items()
    ]
    return f"({'; '.join(parts)})" if parts else ""


def describe_line(info: dict) -> str:
    """One line: windows, spans, subjects, what was skipped (and why) and the class
    balance."""
    ls = info["load_summary"]
    skipped = ls.get("trials_skipped", ls.get("segments_skipped", 0))
    by_reason = ls.get("skipped_by_reason", {})
    windows = ls.get("windows_skipped_by_reason")
    balance = ", ".join(
        f"high {t} {v['high_fraction']:.1%}" for t, v in info["class_balance"].items()
    )
    line = (
        f"data: {info['segments']} windows, {info['trials']} trials/spans, "
        f"{info['subjects']} subjects, inputs {'+'.join(info['modalities'])}; "
        f"skipped spans/trials: {skipped} {_skipped(by_reason)}"
    )
    if windows is not None:
        line += f"; windows the device would abstain on: {sum(windows.values())} {windows}"
    if "ecg_lead_fallback" in ls:
        line += f"; other ECG lead (chosen lead NaN): {ls['ecg_lead_fallback']} trials"
    if "session_baseline" in info:
        b = info["session_baseline"]
        line += (
            f"; session baseline ({b['scope']}, {b['baseline_s']:g} s): "
            f"{b['windows_in_baselines']} windows used, {b['sessions_too_short']} sessions "
            f"too short ({b['windows_of_short_sessions']} windows)"
        )
    return line + f"; {balance}"


def with_feature_config(args: argparse.Namespace, feature_config) -> argparse.Namespace:
    """A copy of ``args`` whose data options ask for ``feature_config``'s channels."""
    return argparse.Namespace(
        **{**vars(args), "eeg_channels": ",".join(feature_config.eeg_channels)}
    )


def replace_channels(feature_config, channels):
    """``feature_config`` with ``channels`` as its EEG channels."""
    return replace(feature_config, eeg_channels=tuple(channels))
