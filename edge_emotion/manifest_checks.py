"""Checks of a bundle manifest's parts that need no model file: channels, targets and
thresholds, input/output tensors, and the single-modality fallbacks a bundle may carry.

Each check appends what is wrong to ``problems`` (so :func:`edge_emotion.bundle.load_bundle`
reports every problem at once) and returns what it could read. They need the feature
configuration only; :mod:`edge_emotion.bundle` loads the files and the sub-bundles.

Fallbacks (manifest key ``"fallbacks"``, optional): ``{"eeg": "fallback_eeg", "ecg":
"fallback_ecg"}``, modality -> a sub-folder of the bundle holding a complete bundle of
that modality alone, which the runtime switches to for a window whose other modality is
bad (``--on-bad-modality fallback``). The folder is a plain name inside the bundle (no
path separators, no ``..``, not a link), and the sub-bundle is fed by the parent's lanes
and feature extractor, so its feature configuration must agree with the parent's on
everything that shapes the features: rates, window, hop, bands, sub-windows, HRV length
and RR correction; an EEG fallback takes the parent's EEG channels or a subset of them
(the runtime picks those rows of the DE map). Its targets are the parent's, in order, and
its normalisation mode the parent's (a session-baseline bundle corrects every window
against one running baseline before any model sees it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_emotion.kernels.config import FeatureConfig

INPUT_EEG = "eeg"
INPUT_ECG = "ecg"
OUTPUT_LOGITS = "logits"
BATCH_DIM = "batch"

FALLBACKS_KEY = "fallbacks"
FALLBACK_MODALITIES = ("eeg", "ecg")
# What a fallback's feature configuration must share with its parent's (see the docstring).
SHARED_FEATURES = {
    "eeg": ("eeg_fs", "window_s", "hop_s", "bands", "subwindow_s"),
    "ecg": ("ecg_fs", "window_s", "hop_s", "hrv_length", "rr_correction"),
}


def check_channels(channels: Any, config: FeatureConfig, problems: list[str]) -> None:
    """``channels`` (``[{"name", "role"}]``) against the configuration's EEG channels and,
    for a model that takes ECG, its ECG channel."""
    if not isinstance(channels, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and "role" in c for c in channels
    ):
        problems.append('channels must be a list of {"name": str, "role": "eeg"|"ecg"} objects')
        return
    eeg = [c["name"] for c in channels if c["role"] == "eeg"]
    ecg = [c["name"] for c in channels if c["role"] == "ecg"]
    other = sorted({c["role"] for c in channels} - {"eeg", "ecg"})
    if other:
        problems.append(f"channels has unknown roles {other}; expected 'eeg' or 'ecg'")
    if tuple(eeg) != tuple(config.eeg_channels):
        problems.append(
            f"EEG channels {eeg} differ from feature_config.eeg_channels "
            f"{list(config.eeg_channels)} (names and order must match)"
        )
    expected_ecg = [config.ecg_channel] if config.has_ecg else []
    if ecg != expected_ecg:
        problems.append(
            f"ECG channels {ecg} differ from what feature_config takes {expected_ecg} "
            f"(modalities {list(config.modalities)})"
        )


def check_targets(manifest: dict, problems: list[str]) -> tuple[tuple[str, ...], dict]:
    """The manifest's targets and their thresholds (each a probability in (0, 1))."""
    targets = manifest["targets"]
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and t for t in targets)
        or len(set(targets)) != len(targets)
    ):
        problems.append(f"targets must be a non-empty list of distinct names, got {targets!r}")
        return (), {}
    raw = manifest["thresholds"]
    if not isinstance(raw, dict):
        problems.append(f"thresholds must be an object target -> probability, got {raw!r}")
        return tuple(targets), {}
    thresholds = {}
    for t in targets:
        value = raw.get(t)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0.0 < float(value) < 1.0
        ):
            problems.append(f"thresholds[{t!r}] must be a probability in (0, 1), got {value!r}")
        else:
            thresholds[t] = float(value)
    extra = sorted(set(raw) - set(targets))
    if extra:
        problems.append(f"thresholds has entries for unknown targets {extra}")
    return tuple(targets), thresholds


def check_io(manifest: dict, config: FeatureConfig, n_targets: int, problems: list[str]) -> None:
    """The manifest's input tensors (one per modality the model takes, in order) and its
    logits output, against the feature configuration's shapes."""
    shapes = {
        INPUT_EEG: [BATCH_DIM, *config.eeg_shape],
        INPUT_ECG: [BATCH_DIM, 1, *config.hrv_shape],
    }
    expected_inputs = [(m, shapes[m]) for m in config.modalities]
    expected_outputs = [(OUTPUT_LOGITS, [BATCH_DIM, n_targets])]
    for key, expected in (("inputs", expected_inputs), ("outputs", expected_outputs)):
        entries = manifest[key]
        if not isinstance(entries, list) or len(entries) != len(expected):
            problems.append(f"{key} must list {len(expected)} tensors, got {entries!r}")
            continue
        for entry, (name, shape) in zip(entries, expected, strict=True):
            if not isinstance(entry, dict):
                problems.append(f"{key} entries must be objects, got {entry!r}")
                continue
            if entry.get("name") != name:
                problems.append(f"{key}: expected tensor {name!r}, got {entry.get('name')!r}")
            if list(entry.get("shape", [])) != shape:
                problems.append(
                    f"{key}[{name!r}] shape {entry.get('shape')} does not match the feature "
                    f"configuration: expected {shape}"
                )
            if entry.get("dtype") != "float32":
                problems.append(
                    f"{key}[{name!r}] dtype must be 'float32', got {entry.get('dtype')!r}"
                )


def fallback_folders(
    root: Path, raw: Any, config: FeatureConfig | None, problems: list[str]
) -> dict[str, Path]:
    """Modality -> sub-folder of the manifest's ``fallbacks`` entry (absent: none), each a
    plain folder name inside ``root`` that exists; what is wrong goes to ``problems``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        problems.append(
            f'{FALLBACKS_KEY} must be an object modality -> sub-folder, e.g. {{"eeg": '
            f'"fallback_eeg"}}, got {raw!r}'
        )
        return {}
    if config is not None and len(config.modalities) < 2:
        problems.append(
            f"{FALLBACKS_KEY}: a bundle of {'+'.join(config.modalities)} alone has no other "
            "modality to fall back from; only a bundle of EEG and ECG carries fallbacks"
        )
        return {}
    folders: dict[str, Path] = {}
    for modality, name in raw.items():
        if modality not in FALLBACK_MODALITIES:
            problems.append(
                f"{FALLBACKS_KEY}: unknown modality {modality!r}; expected one of "
                f"{list(FALLBACK_MODALITIES)}"
            )
            continue
        where = f"{FALLBACKS_KEY}[{modality!r}]"
        if (
            not isinstance(name, str)
            or not name
            or Path(name).name != name
            or name in (".", "..")
            or "\\" in name
        ):
            problems.append(f"{where}: {name!r} is not a plain sub-folder name inside the bundle")
            continue
        folder = root / name
        if folder.is_symlink() or not folder.is_dir():
            problems.append(
                f"{where}: {name} is missing from {root} or is not a folder (links are refused)"
            )
            continue
        folders[modality] = folder
    names = [v for v in raw.values() if isinstance(v, str)]
    if len(set(names)) < len(names):
        problems.append(f"{FALLBACKS_KEY}: two modalities name the same folder")
    return folders


def check_fallback(
    modality: str,
    parent: FeatureConfig,
    child: FeatureConfig,
    targets: tuple[tuple[str, ...], tuple[str, ...]],
    modes: tuple[Any, Any],
    problems: list[str],
) -> None:
    """A fallback sub-bundle of ``modality`` against its parent (see the module docstring):
    ``targets`` and ``modes`` (normalisation mode and baseline) are (parent's, child's)."""
    where = f"{FALLBACKS_KEY}[{modality!r}]"
    if child.modalities != (modality,):
        problems.append(
            f"{where}: the sub-bundle takes {'+'.join(child.modalities)}; the {modality} "
            f"fallback must take {modality} alone (feature_config.modalities [{modality!r}])"
        )
        return
    for name in SHARED_FEATURES[modality]:
        mine, theirs = getattr(child, name), getattr(parent, name)
        if mine != theirs:
            problems.append(
                f"{where}: feature_config.{name} is {mine!r}, the bundle's is {theirs!r}; "
                "the fallback is fed the bundle's features, so they must agree"
            )
    if modality == "eeg":
        extra = [c for c in child.eeg_channels if c not in parent.eeg_channels]
        if extra:
            problems.append(
                f"{where}: EEG channels {extra} are not among the bundle's "
                f"{list(parent.eeg_channels)}; the bundle's lanes cannot serve them"
            )
    if targets[1] != targets[0]:
        problems.append(
            f"{where}: targets {list(targets[1])} differ from the bundle's {list(targets[0])}"
        )
    if modes[1] != modes[0]:
        problems.append(
            f"{where}: normalisation mode {modes[1]} differs from the bundle's {modes[0]}"
        )
