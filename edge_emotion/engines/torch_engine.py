"""The original torch model (optional backend): rebuilt from the manifest and ``model.pt``.

The runtime does not import the training package: the function that builds a model
from its config is found by the model's name in the entry-point group
``edge_emotion.model_builders`` (``pyproject.toml`` registers the training package's
``build_model`` for ``maan`` and ``base``), only when a torch engine is created.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from edge_emotion.bundle import ROLE_TORCH_STATE, Bundle
from edge_emotion.engines.base import Engine, EngineUnavailable

MODEL_BUILDERS = "edge_emotion.model_builders"


def find_model_builder(name: str) -> Callable[[dict[str, Any]], Any]:
    """The function registered under ``name`` in the ``edge_emotion.model_builders``
    entry-point group: model config dict -> ``torch.nn.Module``.

    Raises :class:`EngineUnavailable` when none is registered or it cannot be imported.
    """
    registered = {ep.name: ep for ep in entry_points(group=MODEL_BUILDERS)}
    if name not in registered:
        raise EngineUnavailable(
            f"no model builder for model {name!r} is installed (entry-point group "
            f"{MODEL_BUILDERS!r} has {', '.join(sorted(registered)) or 'none'}); the torch "
            "backend needs edge_emotion's training package — install edge-emotion[train], "
            "or use the onnxruntime or tensorrt backend"
        )
    try:
        return registered[name].load()
    except ImportError as exc:
        raise EngineUnavailable(
            f"the model builder for {name!r} ({registered[name].value}) cannot be imported: {exc}"
        ) from None


class TorchEngine(Engine):
    """The original torch model, rebuilt from the manifest's model config and ``model.pt``."""

    name = "torch"

    def __init__(self, bundle: Bundle, threads: int | None = 1):
        super().__init__(bundle)
        try:
            import torch
        except ImportError as exc:
            raise EngineUnavailable(f"torch backend needs torch ({exc})") from None
        state_path = bundle.file_for_role(ROLE_TORCH_STATE)
        if state_path is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no torch state (model.pt)")
        config = (bundle.manifest.get("model") or {}).get("config")
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise EngineUnavailable(
                f"bundle {bundle.path}: manifest model.config names no model (key 'name')"
            )
        build_model = find_model_builder(config["name"])
        if threads is not None:
            torch.set_num_threads(int(threads))
        model = build_model(config)
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        self._torch = torch
        self.model = model

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(eeg), self._torch.from_numpy(ecg))
        return out.numpy()
