"""Checkpoints: the ``edge_emotion.checkpoint/1`` contract with the export stage, and resume state.

A model checkpoint is written with ``torch.save`` and holds only dicts, lists, str, int,
float, bool and tensors, so it loads with ``torch.load(path, weights_only=True)`` (no
unpickling of arbitrary objects)::

    {"format": "edge_emotion.checkpoint/1",
     "model_config": {...},                  # build_model(model_config)
     "model_state": state_dict,
     "feature_config": FeatureConfig.to_dict(),
     "normalization": {"eeg_mean": [[...]], "eeg_std": [[...]],   # nested (bands, channels)
                       "ecg_mean": float, "ecg_std": float},
     "targets": ["arousal", "valence"],
     "thresholds": {"arousal": 0.5, "valence": 0.5},
     "metrics": {...}, "dataset": {"name": str, "synthetic": bool, ...},
     "versions": {"torch": ..., "numpy": ..., "edge_emotion": ...}}

The caller normalises before the model: ``x_norm = (x - mean) / std``, with ``eeg_mean``
broadcast over batch and sub-windows (``np.asarray(eeg_mean)[None, :, :, None]``).

Resume state (``resume.pt`` beside a run) additionally holds the optimizer, the scheduler,
the epoch counter, the training history and the RNG state, also weights_only-loadable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_emotion.training.models.maan import build_model, validate_model_config

CHECKPOINT_FORMAT = "edge_emotion.checkpoint/1"
RESUME_FORMAT = "edge_emotion.resume/1"
TARGETS = ("arousal", "valence")


def versions() -> dict[str, str]:
    """Library versions recorded in checkpoints."""
    import edge_emotion

    return {
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "edge_emotion": str(getattr(edge_emotion, "__version__", "0.1.0")),
    }


def _to_plain(obj: Any) -> Any:
    """Turn numpy scalars/arrays and tuples into plain Python so weights_only loading works."""
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)):
        return obj
    raise ValueError(f"checkpoint field of type {type(obj).__name__} is not allowed")


def make_checkpoint(
    model: nn.Module,
    model_config: dict[str, Any],
    feature_config: Any,
    normalization: dict[str, Any],
    *,
    metrics: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    thresholds: dict[str, float] | None = None,
    targets: tuple[str, ...] = TARGETS,
) -> dict[str, Any]:
    """Assemble a contract checkpoint dict (tensors on the CPU)."""
    fc = feature_config.to_dict() if hasattr(feature_config, "to_dict") else feature_config
    if not isinstance(fc, dict):
        raise ValueError("feature_config must be a FeatureConfig or its to_dict() form")
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": _to_plain(validate_model_config(model_config)),
        "model_state": state,
        "feature_config": _to_plain(fc),
        "normalization": _to_plain(normalization),
        "targets": list(targets),
        "thresholds": _to_plain(thresholds or {t: 0.5 for t in targets}),
        "metrics": _to_plain(metrics or {}),
        "dataset": _to_plain(dataset or {"name": "unknown", "synthetic": False}),
        "versions": versions(),
    }


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file, then rename: an interruption never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a contract checkpoint (see the module docstring)."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint['format'] must be {CHECKPOINT_FORMAT!r}")
    return atomic_save(checkpoint, path)


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


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a contract checkpoint with ``weights_only=True``."""
    path = Path(path)
    obj = read_weights_only(path)
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{path} is not an {CHECKPOINT_FORMAT} checkpoint (format {got!r})")
    missing = [
        k
        for k in ("model_config", "model_state", "feature_config", "normalization", "targets")
        if k not in obj
    ]
    if missing:
        raise ValueError(f"checkpoint {path} lacks fields {missing}")
    return obj


def model_from_checkpoint(checkpoint: dict[str, Any] | str | os.PathLike) -> nn.Module:
    """Build the model a checkpoint describes, load its weights, and put it in eval mode."""
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint)
    model = build_model(checkpoint["model_config"])
    model.load_state_dict(checkpoint["model_state"])
    return model.eval()
