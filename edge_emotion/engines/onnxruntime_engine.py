"""onnxruntime on a bundle's INT8 Q/DQ, fp32 or fp16 graph (the CPU path).

Session options and why (``scripts/cold_start.py`` measures each; README "Benchmarks"):

- one intra-op thread and no spinning: at batch 1 this model is far too small for a
  thread fan-out to pay, a pool's threads that sleep between hops must be woken (the
  live cold-start cost), and spinning ones burn a battery's core between hops;
- ``session.x64quantprecision=1`` for INT8: on x86-64 CPUs without VNNI (AVX2),
  onnxruntime's u8s8 integer kernels can saturate their 16-bit intermediate sums; this
  key makes them keep the full precision (the INT8 graph then agrees with fp32 as the
  bundle's parity report says). ARM (the Jetson) ignores it.
- ``io_binding``: inputs and output pre-allocated once and bound to the session, so a
  call copies into fixed buffers instead of allocating.
"""

from __future__ import annotations

import numpy as np

from edge_emotion.bundle import ROLE_ONNX_FP16, ROLE_ONNX_FP32, ROLE_ONNX_INT8, Bundle
from edge_emotion.engines.base import Engine, EngineUnavailable, describe_error

GRAPH_LEVELS = ("off", "basic", "extended", "all")


class OnnxRuntimeEngine(Engine):
    """onnxruntime on the bundle's INT8 Q/DQ graph (``precision="int8"``) or fp32/fp16 graph.

    ``intra_op_threads`` defaults to 1 (see the module docstring); ``spinning`` lets a
    pool of more than one thread spin between calls; ``arena`` keeps onnxruntime's CPU
    memory arena; ``graph_level`` is the graph optimisation level (``GRAPH_LEVELS``);
    ``io_binding`` runs through a pre-allocated I/O binding; ``quant_precision`` sets
    ``session.x64quantprecision`` (None: on for INT8).
    """

    def __init__(
        self,
        bundle: Bundle,
        precision: str = "int8",
        providers: list[str] | None = None,
        intra_op_threads: int = 1,
        *,
        spinning: bool = False,
        arena: bool = True,
        graph_level: str = "all",
        io_binding: bool = False,
        quant_precision: bool | None = None,
    ):
        super().__init__(bundle)
        roles = {"int8": ROLE_ONNX_INT8, "fp32": ROLE_ONNX_FP32, "fp16": ROLE_ONNX_FP16}
        if precision not in roles:
            raise ValueError(f"precision must be one of {sorted(roles)}, got {precision!r}")
        if graph_level not in GRAPH_LEVELS:
            raise ValueError(f"graph_level must be one of {GRAPH_LEVELS}, got {graph_level!r}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EngineUnavailable(f"onnxruntime is not installed ({exc})") from None
        verified = bundle.read_verified(roles[precision])
        if verified is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no {roles[precision]} model")
        model_path, model_bytes = verified
        levels = ort.GraphOptimizationLevel
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = {
            "off": levels.ORT_DISABLE_ALL,
            "basic": levels.ORT_ENABLE_BASIC,
            "extended": levels.ORT_ENABLE_EXTENDED,
            "all": levels.ORT_ENABLE_ALL,
        }[graph_level]
        opts.enable_cpu_mem_arena = bool(arena)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.quant_precision = precision == "int8" if quant_precision is None else quant_precision
        if self.quant_precision:
            opts.add_session_config_entry("session.x64quantprecision", "1")
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
        self._out = bundle.output_name
        self._binding = (
            _FixedBinding(self.session, bundle.input_names, self._out) if io_binding else None
        )

    def _logits(self, eeg: np.ndarray | None, ecg: np.ndarray | None) -> np.ndarray:
        feeds = self.feeds(eeg, ecg)
        if self._binding is not None and all(x.shape[0] == 1 for x in feeds.values()):
            return self._binding.run(feeds)
        return self.session.run([self._out], feeds)[0]


class _FixedBinding:
    """Batch-1 inputs and output allocated once and bound to the session: a call copies
    the window into the bound buffers and runs."""

    def __init__(self, session, input_names: tuple[str, ...], output_name: str) -> None:
        shapes = {i.name: i.shape for i in session.get_inputs()}
        out_shape = session.get_outputs()[0].shape
        self._inputs = {
            n: np.zeros([1 if not isinstance(d, int) else d for d in shapes[n]], np.float32)
            for n in input_names
        }
        self._output = np.zeros([1 if not isinstance(d, int) else d for d in out_shape], np.float32)
        self._binding = session.io_binding()
        for name, buf in self._inputs.items():
            self._binding.bind_cpu_input(name, buf)
        self._binding.bind_output(
            output_name, "cpu", 0, np.float32, self._output.shape, self._output.ctypes.data
        )
        self._session = session

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        for name, buf in self._inputs.items():
            buf[...] = feeds[name]
        self._session.run_with_iobinding(self._binding)
        return self._output.copy()
