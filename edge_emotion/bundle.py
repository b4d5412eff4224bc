"""Model bundles: the folder a device loads a trained model from.

A bundle is a directory written by ``python -m edge_emotion.export``::

    manifest.json      what the device needs to know (schema below), sha256 of every file
    model.onnx         fp32 ONNX graph, dynamic batch
    model.int8.onnx    INT8 ONNX in explicit Q/DQ form (TensorRT / onnxruntime)
    model.pt           the torch state dict (optional; torch backend only)
    parity.json/.md    ONNX-vs-torch and INT8-vs-fp32 parity report

Loading validates everything before any engine is built: schema version, required keys,
the feature configuration (rebuilt through :class:`FeatureConfig`), channel names and
roles against it, normalisation statistics (:mod:`edge_emotion.normalization`), targets and
thresholds, input/output shapes against the feature configuration, and the sha256 of
every listed file. All problems found are reported together in one :class:`BundleError`.

Nothing read from a manifest decides how much memory the device allocates without a
bound: the manifest itself is at most ``MAX_MANIFEST_BYTES``, the feature configuration
is bounded by :class:`FeatureConfig`'s limits, normalisation statistics so that normalised
features stay finite, and every file by ``MAX_FILE_BYTES``. Files are verified again
where they are used: :meth:`Bundle.read_verified` reads a model once, hashes those bytes
and hands the same bytes to the engine, so a file swapped after :func:`load_bundle` is
refused.

The manifest's ``kind`` says which model family a bundle holds: ``"eeg-ecg"`` (absent in
older bundles) is the one this runtime classifies; an ``"eav-fusion"`` bundle (EEG + audio
+ video, written by the same export command) is refused with a message saying so, and is
validated by ``edge_emotion.export.eav_bundle.load_eav_bundle`` instead.

This module needs neither torch nor onnx: the Jetson runtime imports it on its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.normalization import Normalization

SCHEMA = "edge_emotion.bundle/1"
SUPPORTED_SCHEMAS = (SCHEMA,)
MANIFEST_NAME = "manifest.json"
DEMO_BUNDLE_PATH = Path(__file__).resolve().parent / "demo_bundle"

# File roles a manifest may declare; engines look files up by role, not by name.
ROLE_ONNX_FP32 = "onnx-fp32"
ROLE_ONNX_INT8 = "onnx-int8"
ROLE_ONNX_FP16 = "onnx-fp16"
ROLE_TORCH_STATE = "torch-state"
ROLE_REPORT = "report"
KNOWN_ROLES = (ROLE_ONNX_FP32, ROLE_ONNX_INT8, ROLE_ONNX_FP16, ROLE_TORCH_STATE, ROLE_REPORT)

# What a bundle holds (manifest key "kind"). Bundles written before the key existed hold
# the EEG+ECG model, so a missing kind means KIND_EEG_ECG.
KIND_EEG_ECG = "eeg-ecg"
KIND_EAV = "eav-fusion"
KNOWN_KINDS = (KIND_EEG_ECG, KIND_EAV)

# Bounds on what a manifest may ask for (see the module docstring). A manifest of a
# 256-channel, 16-band model is ~0.2 MB; model files are protobufs (< 2 GiB by format).
MAX_MANIFEST_BYTES = 4 << 20
MAX_FILE_BYTES = 2 << 30
INPUT_EEG = "eeg"
INPUT_ECG = "ecg"
OUTPUT_LOGITS = "logits"
BATCH_DIM = "batch"

REQUIRED_KEYS = (
    "schema",
    "demo",
    "synthetic",
    "dataset",
    "feature_config",
    "channels",
    "normalization",
    "targets",
    "thresholds",
    "metrics",
    "model",
    "inputs",
    "outputs",
    "onnx",
    "versions",
    "files",
)


class BundleError(ValueError):
    """A bundle is missing, unreadable or inconsistent; ``problems`` lists every issue."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = Path(path)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"model bundle {self.path} is invalid:\n{lines}")


@dataclass(frozen=True)
class Bundle:
    """A validated model bundle (see :func:`load_bundle`)."""

    path: Path
    manifest: dict[str, Any]
    feature_config: FeatureConfig
    normalization: Normalization
    targets: tuple[str, ...]
    thresholds: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)  # file name -> absolute path

    @property
    def is_demo(self) -> bool:
        """True for a demo bundle (trained on synthetic data; not an emotion model)."""
        return bool(self.manifest.get("demo")) or bool(self.manifest.get("synthetic"))

    @property
    def input_names(self) -> tuple[str, ...]:
        """The model's inputs in order: ``eeg``, ``ecg``, or one of them (one modality)."""
        return tuple(entry["name"] for entry in self.manifest["inputs"])

    @property
    def output_name(self) -> str:
        return self.manifest["outputs"][0]["name"]

    def file_for_role(self, role: str) -> Path | None:
        """The path of the file with ``role`` (e.g. ``"onnx-int8"``), or None if absent."""
        for name, entry in self.manifest["files"].items():
            if entry.get("role") == role:
                return self.files[name]
        return None

    def read_verified(self, role: str) -> tuple[Path, bytes] | None:
        """The path and bytes of the file with ``role``, or None if the bundle has none.

        The file is read once and those bytes are checked against the manifest's size and
        sha256: the check at the point of use. An engine builds from exactly these bytes,
        so a file replaced after :func:`load_bundle` raises :class:`BundleError` instead of
        running unverified.
        """
        path = self.file_for_role(role)
        if path is None:
            return None
        entry = self.manifest["files"][path.name]
        try:
            with open(path, "rb") as f:
                data = f.read(int(entry["bytes"]) + 1)  # never more than the manifest says
        except OSError as exc:
            raise BundleError(self.path, [f"{path.name} cannot be read: {exc}"]) from None
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != entry["bytes"] or digest != entry["sha256"]:
            raise BundleError(
                self.path,
                [
                    f"{path.name} changed after the bundle was loaded (now sha256 "
                    f"{digest[:12]}...; manifest {entry['sha256'][:12]}..., {entry['bytes']} "
                    "bytes); refusing to run it"
                ],
            )
        return path, data

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Boolean decisions, (..., n_targets) like ``probabilities``: P(high) >= the
        target's threshold. The one place a bundle's thresholds are applied."""
        thr = np.array([self.thresholds[t] for t in self.targets], dtype=np.float64)
        return np.asarray(probabilities) >= thr


def sha256_file(path: Path | str, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def load_bundle(path: Path | str = DEMO_BUNDLE_PATH) -> Bundle:
    """Read and validate a bundle directory (or its ``manifest.json``).

    Raises :class:`BundleError` (a ``ValueError``) listing every problem found: a missing
    directory or manifest, invalid JSON, an unsupported schema, missing keys, an invalid
    feature configuration, channels/normalisation/shapes that disagree with it, thresholds
    outside (0, 1), files that are missing or whose sha256 differs from the manifest.
    """
    path = Path(path)
    if path.name == MANIFEST_NAME and path.is_file():
        path = path.parent
    if not path.is_dir():
        raise BundleError(path, [f"{path} is not a directory (expected a model bundle folder)"])
    if not (path / MANIFEST_NAME).is_file():
        raise BundleError(path, [f"{MANIFEST_NAME} not found in {path}"])
    manifest = read_manifest(path)

    schema = manifest.get("schema")
    if schema not in SUPPORTED_SCHEMAS:
        raise BundleError(
            path,
            [
                f"schema is {schema!r}; this edge_emotion reads {', '.join(SUPPORTED_SCHEMAS)} "
                "(re-export the bundle with this version of edge_emotion)"
            ],
        )
    kind = manifest.get("kind", KIND_EEG_ECG)
    if kind == KIND_EAV:
        raise BundleError(
            path,
            [
                "this bundle holds an EAV fusion model (EEG + audio + video, "
                f"kind {KIND_EAV!r}); the Jetson runtime classifies EEG+ECG bundles "
                "(export a edge_emotion.checkpoint/1 checkpoint for it)"
            ],
        )
    if kind != KIND_EEG_ECG:
        raise BundleError(
            path, [f"kind is {kind!r}; this edge_emotion knows {', '.join(KNOWN_KINDS)}"]
        )
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(path, [f"manifest.json is missing key {k!r}" for k in missing])

    problems: list[str] = []
    feature_config = _check_feature_config(manifest, problems)
    normalization = None
    targets: tuple[str, ...] = ()
    thresholds: dict[str, float] = {}
    if feature_config is not None:
        _check_channels(manifest["channels"], feature_config, problems)
        try:
            normalization = Normalization.from_dict(
                manifest["normalization"],
                n_bands=len(feature_config.bands),
                n_channels=len(feature_config.eeg_channels),
                modalities=feature_config.modalities,
            )
        except ValueError as exc:
            problems.append(str(exc))
    targets, thresholds = _check_targets(manifest, problems)
    if feature_config is not None and targets:
        _check_io(manifest, feature_config, len(targets), problems)
    for key in ("demo", "synthetic"):
        if not isinstance(manifest[key], bool):
            problems.append(f"{key} must be true or false, got {manifest[key]!r}")
    files = check_files(path, manifest["files"], problems)

    if problems or feature_config is None or normalization is None:
        raise BundleError(path, problems or ["bundle could not be validated"])
    return Bundle(
        path=path.resolve(),
        manifest=manifest,
        feature_config=feature_config,
        normalization=normalization,
        targets=targets,
        thresholds=thresholds,
        files=files,
    )


def read_manifest(folder: Path | str) -> dict[str, Any]:
    """The JSON object in ``folder/manifest.json``; :class:`BundleError` when it is missing,
    larger than ``MAX_MANIFEST_BYTES``, not JSON, nested too deeply or not an object."""
    folder = Path(folder)
    try:
        with open(folder / MANIFEST_NAME, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise BundleError(folder, [f"{MANIFEST_NAME} cannot be read: {exc}"]) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            folder,
            [f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a manifest"],
        )
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(folder, [f"{MANIFEST_NAME} is not readable JSON: {exc}"]) from None
    except RecursionError:
        raise BundleError(
            folder, [f"{MANIFEST_NAME} is nested too deeply to be a manifest"]
        ) from None
    if not isinstance(manifest, dict):
        raise BundleError(folder, [f"{MANIFEST_NAME} must hold a JSON object"])
    return manifest


def _check_feature_config(manifest: dict, problems: list[str]) -> FeatureConfig | None:
    raw = manifest["feature_config"]
    if not isinstance(raw, dict):
        problems.append(f"feature_config must be an object, got {type(raw).__name__}")
        return None
    try:
        config = FeatureConfig.from_dict(raw)
    except (TypeError, ValueError, KeyError) as exc:
        problems.append(f"feature_config is invalid: {exc}")
        return None
    digest = manifest.get("feature_config_digest")
    if digest is None:
        problems.append(
            "feature_config_digest is missing: without it a hand-edited feature_config "
            "(e.g. another eeg_fs) would go unnoticed; re-export the bundle"
        )
    elif digest != config.digest():
        problems.append(
            f"feature_config_digest {digest!r} does not match the feature_config "
            f"({config.digest()!r}): the manifest was edited by hand"
        )
    return config


def _check_channels(channels: Any, config: FeatureConfig, problems: list[str]) -> None:
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
    if ecg != [config.ecg_channel]:
        problems.append(
            f"ECG channels {ecg} differ from feature_config.ecg_channel {config.ecg_channel!r}"
        )


def _check_targets(manifest: dict, problems: list[str]) -> tuple[tuple[str, ...], dict]:
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


def _check_io(manifest: dict, config: FeatureConfig, n_targets: int, problems: list[str]) -> None:
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


def check_files(root: Path, entries: Any, problems: list[str]) -> dict[str, Path]:
    """Check a manifest's ``files`` table against the folder ``root`` (plain names, known
    roles, sha256 and size of each file, one fp32 model); append what is wrong to
    ``problems`` and return file name -> path. Shared by every bundle kind's loader."""
    if not isinstance(entries, dict) or not entries:
        problems.append("files must be an object: file name -> {sha256, bytes, role}")
        return {}
    files: dict[str, Path] = {}
    for name, entry in entries.items():
        # Plain names only: a manifest must not point outside its own folder.
        if not name or Path(name).name != name or name in (".", "..", MANIFEST_NAME):
            problems.append(f"files: {name!r} is not a plain file name inside the bundle")
            continue
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or isinstance(entry.get("bytes"), bool)
            or not isinstance(entry.get("bytes"), int)
        ):
            problems.append(
                f"files[{name!r}] must be an object with a 'sha256' string and 'bytes' integer"
            )
            continue
        if not 0 <= entry["bytes"] <= MAX_FILE_BYTES:
            problems.append(
                f"files[{name!r}]: {entry['bytes']} bytes is outside 0..{MAX_FILE_BYTES} "
                f"({MAX_FILE_BYTES >> 30} GiB)"
            )
            continue
        role = entry.get("role")
        if role not in KNOWN_ROLES:
            problems.append(f"files[{name!r}] has unknown role {role!r}; expected {KNOWN_ROLES}")
        fpath = root / name
        if not fpath.is_file():
            problems.append(f"{name} is listed in the manifest but missing from {root}")
            continue
        if fpath.stat().st_size != entry["bytes"]:  # no need to hash it to know
            problems.append(
                f"{name}: sha256 mismatch (size {fpath.stat().st_size} bytes, manifest "
                f"{entry['bytes']}): the file changed after export; re-export the bundle"
            )
            continue
        actual = sha256_file(fpath)
        if actual != entry["sha256"]:
            problems.append(
                f"{name}: sha256 mismatch (manifest {entry['sha256'][:12]}..., file "
                f"{actual[:12]}...): the file changed after export; re-export the bundle"
            )
        files[name] = fpath.resolve()
    roles = [e.get("role") for e in entries.values() if isinstance(e, dict)]
    if ROLE_ONNX_FP32 not in roles:
        problems.append(f"files lists no {ROLE_ONNX_FP32!r} model (model.onnx)")
    for role in (ROLE_ONNX_FP32, ROLE_ONNX_INT8, ROLE_ONNX_FP16, ROLE_TORCH_STATE):
        if roles.count(role) > 1:
            problems.append(f"files lists more than one {role!r} file")
    return files
