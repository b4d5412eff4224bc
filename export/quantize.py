"""INT8 post-training quantisation in explicit Q/DQ form, and an FP16 alternative.

TensorRT consumes INT8 only as explicit quantisation (``QuantizeLinear`` /
``DequantizeLinear`` pairs in the ONNX graph; TensorRT 11 removed implicit calibration
altogether) and requires: symmetric int8 (zero-point 0) for activations and weights,
per-tensor scales for activations, per-channel (output channel) scales for weights
(TensorRT "Working with Quantized Types", explicit quantization). onnxruntime's
``quantize_static`` produces exactly that with ``QuantFormat.QDQ``, ``QuantType.QInt8``
for both, ``per_channel=True`` and ``ActivationSymmetric``/``WeightSymmetric``;
:func:`check_qdq` re-reads the result and refuses anything else.

Only the weighted ops (Conv, Gemm, MatMul) are quantised: they carry nearly all of the
arithmetic, and TensorRT fuses Q/DQ around them into int8 kernels; the element-wise
gates (sigmoid, multiplications by attention masks) stay fp32, where int8 rounding of
values in (0, 1) costs accuracy for no speed.

Calibration (by default the 99.99th percentile of each activation's magnitude) runs on
model inputs (normalised, for the EEG+ECG model), via :class:`FeedsCalibrationReader` (any
named inputs).
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emotion.export.onnx_export import quiet_loggers

QUANTIZED_OP_TYPES = ("Conv", "Gemm", "MatMul")


class FeedsCalibrationReader:
    """onnxruntime ``CalibrationDataReader`` over named input arrays (leading batch axis).

    ``feeds`` maps graph input names to arrays with the same number of rows N >= 1, fed in
    batches of ``batch_size``. (Duck-typed: onnxruntime only calls ``get_next``.)
    """

    def __init__(self, feeds: dict[str, np.ndarray], batch_size: int = 32):
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()}
        sizes = {k: len(v) for k, v in arrays.items()}
        if not arrays or len(set(sizes.values())) != 1 or min(sizes.values()) == 0:
            raise ValueError(f"calibration inputs must share the same N >= 1 rows, got {sizes}")
        bad = [k for k, v in arrays.items() if not np.isfinite(v).all()]
        if bad:
            raise ValueError(f"calibration inputs {bad} contain NaN or infinite values")
        self.feeds = arrays
        self.batch_size = int(batch_size)
        self._pos = 0

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= len(self):
            return None
        sl = slice(self._pos, self._pos + self.batch_size)
        self._pos += self.batch_size
        return {k: np.ascontiguousarray(v[sl]) for k, v in self.feeds.items()}

    def rewind(self) -> None:
        self._pos = 0

    def rebatched(self, batch_size: int) -> FeedsCalibrationReader:
        return FeedsCalibrationReader(self.feeds, batch_size)


@dataclass(frozen=True)
class QdqSummary:
    """What :func:`check_qdq` found in a quantised graph."""

    n_quantize: int
    n_dequantize: int
    n_weights_int8: int
    n_weights_per_channel: int
    quantized_ops: dict[str, int]
    preprocessed: bool | None = None  # quant_pre_process ran (None: not known)
    calibration: str | None = None  # calibration method, e.g. "percentile 99.99"

    def to_dict(self) -> dict:
        return {
            "preprocessed": self.preprocessed,
            "calibration": self.calibration,
            "quantize_linear": self.n_quantize,
            "dequantize_linear": self.n_dequantize,
            "int8_weights": self.n_weights_int8,
            "per_channel_weights": self.n_weights_per_channel,
            "quantized_ops": self.quantized_ops,
        }


CALIBRATION_METHODS = ("percentile", "minmax", "entropy")


def quantize_int8(
    fp32_path: Path | str,
    out_path: Path | str,
    reader: FeedsCalibrationReader,
    op_types: tuple[str, ...] = QUANTIZED_OP_TYPES,
    method: str = "percentile",
    percentile: float = 99.99,
    weighted_nodes_only: bool = False,
) -> QdqSummary:
    """Write a Q/DQ INT8 copy of ``fp32_path`` to ``out_path`` calibrated on ``reader``.

    ``method``: ``"percentile"`` (default; each activation's range is the ``percentile``
    of its absolute values, so rare outliers do not coarsen the scale for every other
    window), ``"minmax"`` or ``"entropy"`` (onnxruntime's calibrators). On the demo
    model percentile 99.99 gave the best INT8/fp32 decision agreement of the three.

    ``weighted_nodes_only``: quantise only the ``op_types`` nodes whose second input is a
    constant weight. Transformers multiply two activations (``Q @ K^T``, ``attn @ V``);
    quantising those would give int8 MatMuls without an int8 weight initializer, which
    :func:`check_qdq` (TensorRT's per-channel weight rule) refuses, and the softmax output
    in [0, 1] loses most of its resolution at a per-tensor int8 scale.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {
        "percentile": CalibrationMethod.Percentile,
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if method != "minmax":
        # onnxruntime's histogram calibrators stack per-batch arrays and fail when the last
        # batch is shorter (onnxruntime 1.31): feed one window at a time.
        reader = reader.rebatched(1)

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        # ONNX shape inference + onnxruntime's basic graph cleanup first, as onnxruntime
        # recommends for quantisation. Its symbolic shape inference is skipped: it fails
        # on MAAN's Concat after a dynamic-batch Reshape, and the exporter already wrote
        # every shape into the graph.
        src = Path(tmp) / "pre.onnx"
        preprocessed = True
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            with quiet_loggers("onnxruntime", "root"):
                quant_pre_process(str(fp32_path), str(src), skip_symbolic_shape=True)
        except Exception:
            src, preprocessed = Path(fp32_path), False
        nodes = _weighted_nodes(src, op_types) if weighted_nodes_only else None
        if nodes is not None and not nodes:
            raise ValueError(f"{fp32_path} has no {'/'.join(op_types)} node with a weight")
        with quiet_loggers("onnxruntime", "root"):
            quantize_static(
                str(src),
                str(out_path),
                reader,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types),
                nodes_to_quantize=nodes,
                per_channel=True,
                reduce_range=False,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                extra_options={
                    "CalibPercentile": float(percentile),
                    "ActivationSymmetric": True,
                    "WeightSymmetric": True,
                    # Biases stay fp32: TensorRT's DequantizeLinear takes int8 (not the
                    # int32 bias form onnxruntime would emit) and folds fp32 biases itself.
                    "QuantizeBias": False,
                },
            )
    summary = check_qdq(out_path)
    return dataclasses.replace(
        summary,
        preprocessed=preprocessed,
        calibration=f"{method}" + (f" {percentile:g}" if method == "percentile" else ""),
    )


def _weighted_nodes(path: Path, op_types: tuple[str, ...]) -> list[str]:
    """Names of the ``op_types`` nodes in ``path`` whose input 1 is an initializer/Constant."""
    import onnx

    model = onnx.load(str(path))
    consts = {t.name for t in model.graph.initializer}
    consts |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    return [
        n.name
        for n in model.graph.node
        if n.op_type in op_types and len(n.input) > 1 and n.input[1] in consts
    ]


def check_qdq(path: Path | str) -> QdqSummary:
    """Verify a Q/DQ graph meets TensorRT's rules; raise ``ValueError`` saying what breaks.

    Checks: every Q/DQ zero-point is int8 and 0; scales positive and finite; activation
    scales per-tensor; weights of quantised Conv/Gemm/MatMul stored as int8 initializers
    with per-channel scales.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    consts = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    values = {**consts, **inits}
    problems: list[str] = []
    n_q = n_dq = n_w8 = n_pc = 0
    producers = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if node.op_type == "QuantizeLinear":
            n_q += 1
        else:
            n_dq += 1
        scale = values.get(node.input[1])
        if scale is None or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            problems.append(f"{node.name}: scale missing, non-finite or <= 0")
        if len(node.input) < 3 or not node.input[2]:
            problems.append(f"{node.name}: no zero-point (int8 requires an explicit 0)")
            continue
        zp = values.get(node.input[2])
        if zp is None or zp.dtype != np.int8:
            dtype = None if zp is None else zp.dtype
            problems.append(f"{node.name}: zero-point must be an int8 constant, got {dtype}")
        elif np.any(zp != 0):
            problems.append(f"{node.name}: zero-point {zp.ravel()[:4]} is not 0 (asymmetric)")
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            w = inits[node.input[0]]
            if w.dtype == np.int8:
                n_w8 += 1
                if scale is not None and np.size(scale) > 1:
                    n_pc += 1
        elif scale is not None and np.size(scale) > 1 and node.input[0] not in inits:
            problems.append(f"{node.name}: activation scale must be per-tensor")
    quantized_ops: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OP_TYPES and len(node.input) > 1:
            src = producers.get(node.input[1])
            if src is not None and src.op_type == "DequantizeLinear":
                quantized_ops[node.op_type] = quantized_ops.get(node.op_type, 0) + 1
                w = inits.get(src.input[0])
                if w is None or w.dtype != np.int8:
                    problems.append(f"{node.name}: weight is not an int8 initializer")
    if n_q == 0 or n_dq == 0:
        problems.append("no QuantizeLinear/DequantizeLinear nodes: the graph is not quantised")
    if problems:
        raise ValueError(f"{path} is not a TensorRT-ready Q/DQ graph: " + "; ".join(problems))
    return QdqSummary(n_q, n_dq, n_w8, n_pc, quantized_ops)


def convert_fp16(fp32_path: Path | str, out_path: Path | str) -> Path:
    """Write an fp16 copy of ``fp32_path`` (fp32 inputs/outputs kept, casts inside).

    Uses the float16 converter that ships with onnxruntime
    (``onnxruntime.transformers.float16``, the same code as onnxconverter-common's).
    For TensorRT 10 and 11 this graph is the strongly typed route to fp16 kernels.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    with quiet_loggers("onnxruntime", "root"):
        fp16 = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    onnx.save(fp16, str(out_path))
    return Path(out_path)
