"""Models for arousal/valence recognition: MAAN (Woo et al. 2023) and its base model.

``build_model(model_config)`` is the contract with the export stage: the config is a
JSON-able dict stored in every checkpoint, and the returned module's
``forward(eeg, ecg)`` takes EEG ``(B, bands, channels, subwindows)`` and ECG
``(B, 1, hrv_length)`` float32 tensors and returns logits ``(B, n_targets)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edge_emotion.training.models.maan import MAAN

MODEL_NAMES = ("maan", "base")

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "name": "maan",
    "n_bands": 4,
    "n_channels": 14,
    "n_subwindows": 10,
    "hrv_length": 32,
    "n_targets": 2,
    "eeg_width": 16,
    "ecg_width": 16,
    "depth": 2,
    "reduction": 4,
    "hidden": 64,
    "dropout": 0.3,
    "ecg_pool": 8,
}

_INT_KEYS = (
    "n_bands",
    "n_channels",
    "n_subwindows",
    "hrv_length",
    "n_targets",
    "eeg_width",
    "ecg_width",
    "depth",
    "reduction",
    "hidden",
    "ecg_pool",
)


def model_config(name: str = "maan", **overrides: Any) -> dict[str, Any]:
    """Return a complete model config: the defaults, ``name``, then ``overrides``."""
    cfg = dict(DEFAULT_MODEL_CONFIG)
    cfg["name"] = name
    cfg.update(overrides)
    return validate_model_config(cfg)


def validate_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every field; raise ``ValueError`` naming the bad field."""
    if not isinstance(config, dict):
        raise ValueError(f"model_config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_MODEL_CONFIG))
    if unknown:
        raise ValueError(
            f"model_config has unknown keys {unknown}; expected keys from "
            f"{sorted(DEFAULT_MODEL_CONFIG)}"
        )
    cfg = {**DEFAULT_MODEL_CONFIG, **config}
    if cfg["name"] not in MODEL_NAMES:
        raise ValueError(f"model_config['name'] must be one of {MODEL_NAMES}, got {cfg['name']!r}")
    for key in _INT_KEYS:
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"model_config[{key!r}] must be a positive int, got {value!r}")
    if cfg["depth"] > 3:
        raise ValueError(f"model_config['depth'] must be 1..3, got {cfg['depth']}")
    if cfg["n_subwindows"] < 2 ** cfg["depth"] or cfg["n_channels"] < 2 ** cfg["depth"]:
        raise ValueError(
            "model_config['depth'] is too deep for the EEG map: need n_channels and "
            f"n_subwindows >= 2**depth = {2 ** cfg['depth']}"
        )
    if cfg["hrv_length"] < 2 ** cfg["depth"]:
        raise ValueError(
            f"model_config['hrv_length'] must be >= 2**depth = {2 ** cfg['depth']}, "
            f"got {cfg['hrv_length']}"
        )
    dropout = cfg["dropout"]
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"model_config['dropout'] must be in [0, 1), got {dropout!r}")
    cfg["dropout"] = float(dropout)
    return cfg


def build_model(model_config: dict[str, Any]) -> nn.Module:
    """Build MAAN (``name="maan"``) or the base model (``name="base"``) from a config dict.

    Missing keys take the values of ``DEFAULT_MODEL_CONFIG``. The module is returned in
    training mode with freshly initialised weights (seed torch first for reproducibility).
    """
    cfg = validate_model_config(model_config)
    kwargs = {k: cfg[k] for k in cfg if k != "name"}
    return MAAN(fusion=cfg["name"] == "maan", **kwargs)


def example_inputs(config: dict[str, Any], batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero tensors of the model's input shapes (for tracing, export, FLOP counting)."""
    cfg = validate_model_config(config)
    eeg = torch.zeros(batch, cfg["n_bands"], cfg["n_channels"], cfg["n_subwindows"])
    ecg = torch.zeros(batch, 1, cfg["hrv_length"])
    return eeg, ecg


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, config: dict[str, Any]) -> int:
    """Floating-point operations of one forward pass on one segment (batch 1).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs;
    convolutions and matrix products only, element-wise operations are not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*example_inputs(config, batch=1))
    model.train(was_training)
    return int(counter.get_total_flops())


def model_summary(config: dict[str, Any]) -> dict[str, Any]:
    """Parameters and FLOPs per segment of the model a config describes."""
    cfg = validate_model_config(config)
    model = build_model(cfg)
    return {
        "name": cfg["name"],
        "parameters": count_parameters(model),
        "flops_per_segment": count_flops(model, cfg),
    }


__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "MAAN",
    "MODEL_NAMES",
    "build_model",
    "count_flops",
    "count_parameters",
    "example_inputs",
    "model_config",
    "model_summary",
    "validate_model_config",
]
