"""The original torch model (optional backend): rebuilt from the manifest and ``model.pt``.

The runtime does not import the training package: the function that builds a model
from its config is found by the model's name in the entry-point group
``edge_emotion.model_builders`` (``pyproject.toml`` registers the training package's
``build_model`` for ``maan`` and ``base``), only when a torch engine is created.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from edge_emotion.bundle import ROLE_TORCH_STATE, Bundle, BundleError
from edge_emotion.engines.base import Engine, EngineUnavailable, describe_error

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
        verified = bundle.read_verified(ROLE_TORCH_STATE)
        if verified is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no torch state (model.pt)")
        state_path, state_bytes = verified
        config = (bundle.manifest.get("model") or {}).get("config")
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise EngineUnavailable(
                f"bundle {bundle.path}: manifest model.config names no model (key 'name')"
            )
        build_model = find_model_builder(config["name"])
        if threads is not None:
            torch.set_num_threads(int(threads))
        try:
            state = torch.load(io.BytesIO(state_bytes), map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError for objects, RuntimeError for a broken zip
            # torch's own message suggests weights_only=False; name the object instead.
            unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            why = f"it refers to {unsafe.group(1)}" if unsafe else describe_error(exc)
            raise BundleError(
                bundle.path,
                [
                    f"{state_path.name} is not a weights-only state dict; this runtime never "
                    f"unpickles objects ({why})"
                ],
            ) from None
        model = _build_within(build_model, config, state, bundle, torch)
        model.load_state_dict(state)
        model.eval()
        self._torch = torch
        self.model = model

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(*(self._torch.from_numpy(x) for x in self.feeds(eeg, ecg).values()))
        return out.numpy()


def _build_within(build_model, config: dict[str, Any], state: Any, bundle: Bundle, torch):
    """The model of ``config``, built only once its size is known to match ``state``.

    The manifest's model config (widths, depth) decides how many parameters the builder
    allocates; it is first built on torch's ``meta`` device (no memory), and a config that
    asks for more values than the verified state dict holds is refused.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(bundle.path, ["model.pt must hold a dict of tensors"])
    try:
        with torch.device("meta"):
            shape_only = build_model(config)
        wanted = sum(t.numel() for t in shape_only.state_dict().values())
    except Exception as exc:
        raise BundleError(
            bundle.path, [f"manifest model.config cannot build a model: {exc}"]
        ) from None
    held = sum(t.numel() for t in state.values())
    if wanted != held:
        raise BundleError(
            bundle.path,
            [
                f"manifest model.config describes a model of {wanted} values but model.pt "
                f"holds {held}; the manifest and the weights do not belong together"
            ],
        )
    return build_model(config)
