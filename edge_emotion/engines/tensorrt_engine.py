"""TensorRT on the device: the bundle's ONNX built into a plan here, cached, and run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_emotion.bundle import ROLE_ONNX_FP16, ROLE_ONNX_FP32, ROLE_ONNX_INT8, Bundle
from edge_emotion.engines import tensorrt as trt_support
from edge_emotion.engines.base import Engine, EngineUnavailable, describe_error

PRECISIONS = ("int8", "fp16", "fp32")


class TensorRTEngine(Engine):
    """TensorRT engine built on this device from the bundle's Q/DQ (or fp16/fp32) ONNX.

    The plan is built from the bundle's verified ONNX bytes and cached next to the bundle
    (or in ``cache_dir``) under a key of device name, compute capability and TensorRT
    version, with a checksum; see
    :mod:`edge_emotion.engines.tensorrt`.
    """

    name = "tensorrt"

    def __init__(
        self,
        bundle: Bundle,
        precision: str = "int8",
        cache_dir: Path | str | None = None,
        max_batch: int = 16,
    ):
        super().__init__(bundle)
        ok, why = trt_support.tensorrt_available()
        if not ok:
            raise EngineUnavailable(why)
        role = {"int8": ROLE_ONNX_INT8, "fp16": ROLE_ONNX_FP16, "fp32": ROLE_ONNX_FP32}[precision]
        verified = bundle.read_verified(role)
        if verified is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no {role} model for TensorRT")
        onnx_path, onnx_bytes = verified
        shapes = {
            name: {"eeg": self._eeg_shape, "ecg": self._ecg_shape}[name]
            for name in bundle.input_names
        }
        try:
            cached = trt_support.build_or_load_plan(
                onnx_bytes,
                input_shapes=shapes,
                cache_dir=Path(cache_dir) if cache_dir is not None else default_plan_cache(bundle),
                max_batch=max_batch,
                stem=onnx_path.stem,
            )
            self.plan_path = cached.path
            self.runner = trt_support.TrtRunner(cached.plan)
        except (RuntimeError, ValueError) as exc:  # parser/builder refusals, stale plans
            raise EngineUnavailable(
                f"TensorRT cannot build or load {onnx_path.name}: {describe_error(exc)}"
            ) from None
        self.name = "tensorrt" if precision == "int8" else f"tensorrt-{precision}"
        self._in = bundle.input_names
        self._out = bundle.output_name

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        return self.runner.run(self.feeds(eeg, ecg))[self._out]


def default_plan_cache(bundle: Bundle) -> Path:
    """``<bundle>/trt_cache`` when writable, else ``~/.cache/edge_emotion/trt/<bundle id>``.

    A bundle installed inside site-packages (the demo bundle) is often read-only.
    """
    local = bundle.path / "trt_cache"
    try:
        local.mkdir(exist_ok=True)
        probe = local / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
        return local
    except OSError:
        ident = bundle.manifest["files"][bundle.file_for_role(ROLE_ONNX_FP32).name]["sha256"]
        return Path.home() / ".cache" / "edge_emotion" / "trt" / ident[:16]
