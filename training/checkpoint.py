"""Checkpoints: the contract between training and export, one format per model family.

A checkpoint is written with ``torch.save`` and holds only dicts, lists, str, int, float,
bool and tensors, so it loads with ``torch.load(path, weights_only=True)`` (no unpickling
of arbitrary objects). Every format carries::

    {"format": str,                          # one of FORMATS
     "model_config": {...},                  # the family's builder takes it back
     "model_state": state_dict,
     "metrics": {...}, "dataset": {"name": str, "synthetic": bool, ...},
     "versions": {"torch": ..., "numpy": ..., "edge_emotion": ...},
     ...}                                    # and the fields of its format:

- ``edge_emotion.checkpoint/1`` (EEG+ECG, MAAN and its base model):
  ``"feature_config"`` (``FeatureConfig.to_dict()``), ``"normalization"``
  (``Normalization.to_dict()``), ``"targets"`` (``["arousal", "valence"]``) and
  ``"thresholds"`` (target -> P(high) threshold; older files may lack it: 0.5).
- ``edge_emotion.eav_checkpoint/1`` (EEG + audio + video fusion): ``"data_config"``
  (``EAVConfig.to_dict()``, how recordings become inputs) and ``"classes"``.

Which family writes which format, and how a model is built back from one:
:mod:`edge_emotion.training.families`. Resume state beside a run is the training loop's
(:mod:`edge_emotion.training.loop`), not a checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

EEG_ECG_CHECKPOINT = "edge_emotion.checkpoint/1"
EAV_CHECKPOINT = "edge_emotion.eav_checkpoint/1"
# format -> what it holds, and the fields a reader needs
FORMATS: dict[str, str] = {EEG_ECG_CHECKPOINT: "EEG+ECG", EAV_CHECKPOINT: "EAV fusion"}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    EEG_ECG_CHECKPOINT: (
        "model_config",
        "model_state",
        "feature_config",
        "normalization",
        "targets",
    ),
    EAV_CHECKPOINT: ("model_config", "model_state", "classes", "data_config"),
}


def versions() -> dict[str, str]:
    """Library versions recorded in checkpoints."""
    import edge_emotion

    return {
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "edge_emotion": str(getattr(edge_emotion, "__version__", "0.1.0")),
    }


def to_plain(obj: Any) -> Any:
    """Numpy scalars/arrays and tuples as plain Python, so weights_only loading works."""
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)):
        return obj
    raise ValueError(f"checkpoint field of type {type(obj).__name__} is not allowed")


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file, then rename: an interruption never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint after :func:`check_checkpoint` (see the module docstring)."""
    return atomic_save(dict(check_checkpoint(checkpoint)), path)


def read_weights_only(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    The one place training and export read torch files: nothing is ever unpickled, so a
    file holding arbitrary Python objects is refused rather than executed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{what} {path} cannot be read as a weights-only torch file "
            f"({type(exc).__name__}); edge_emotion never unpickles arbitrary objects"
        ) from exc


def check_checkpoint(checkpoint: Any) -> Mapping[str, Any]:
    """Raise ``ValueError`` unless ``checkpoint`` is a dict of a known format with every
    field that format requires (named in the message); returns it."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"checkpoint must be a dict, got {type(checkpoint).__name__}")
    fmt = checkpoint.get("format")
    if fmt not in FORMATS:
        known = " or ".join(f"{f!r} ({what})" for f, what in FORMATS.items())
        raise ValueError(f"checkpoint format is {fmt!r}; expected {known}")
    missing = [k for k in REQUIRED_FIELDS[fmt] if k not in checkpoint]
    if missing:
        raise ValueError(f"{FORMATS[fmt]} checkpoint lacks fields {missing}")
    return checkpoint


def load_checkpoint(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """A checked checkpoint dict from a file (read with ``weights_only=True``) or a dict."""
    if isinstance(source, Mapping):
        return dict(check_checkpoint(source))
    obj = read_weights_only(source)
    try:
        return dict(check_checkpoint(obj))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
