"""onnxruntime on a bundle's INT8 Q/DQ, fp32 or fp16 graph (the CPU path)."""

from __future__ import annotations

import numpy as np

from edge_emotion.bundle import ROLE_ONNX_FP16, ROLE_ONNX_FP32, ROLE_ONNX_INT8, Bundle
from edge_emotion.engines.base import Engine, EngineUnavailable, describe_error


class OnnxRuntimeEngine(Engine):
    """onnxruntime on the bundle's INT8 Q/DQ graph (``precision="int8"``) or fp32/fp16 graph.

    ``intra_op_threads`` defaults to 1: at batch 1 this model is far too small for
    thread fan-out to pay, and the device shares its cores with feature extraction.
    """

    def __init__(
        self,
        bundle: Bundle,
        precision: str = "int8",
        providers: list[str] | None = None,
        intra_op_threads: int = 1,
    ):
        super().__init__(bundle)
        roles = {"int8": ROLE_ONNX_INT8, "fp32": ROLE_ONNX_FP32, "fp16": ROLE_ONNX_FP16}
        if precision not in roles:
            raise ValueError(f"precision must be one of {sorted(roles)}, got {precision!r}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EngineUnavailable(f"onnxruntime is not installed ({exc})") from None
        verified = bundle.read_verified(roles[precision])
        if verified is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no {roles[precision]} model")
        model_path, model_bytes = verified
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            # The verified bytes themselves, not the path: the file may change after the check.
            self.session = ort.InferenceSession(
                model_bytes, sess_options=opts, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            raise EngineUnavailable(
                f"onnxruntime cannot load {model_path.name} ({describe_error(exc)})"
            ) from None
        self.precision = precision
        self.name = "onnxruntime" if precision == "int8" else f"onnxruntime-{precision}"
        self._in = bundle.input_names
        self._out = bundle.output_name

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        return self.session.run([self._out], self.feeds(eeg, ecg))[0]
