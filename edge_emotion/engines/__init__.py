"""Inference engines over a model bundle: TensorRT, onnxruntime (INT8 / fp32), torch.

Every engine takes raw features in the model layout — EEG differential-entropy maps
(B, bands, channels, subwindows) and HRV series (B, 1, hrv_length) — applies the
bundle's normalisation, runs the model and returns P(high) per target, (B, n_targets)
float32, in the bundle's target order.

The heavy backends are imported only when an engine of that kind is created, so the
runtime imports this package on a Jetson that has TensorRT but no torch or onnxruntime,
or onnxruntime but no TensorRT. Everything a device does lives here, including building
a TensorRT plan from the bundle's ONNX (:mod:`edge_emotion.engines.tensorrt`); the torch
backend is optional and finds its model builder through an entry point
(:mod:`edge_emotion.engines.torch_engine`), never by importing training code.

``create_engine(bundle, "auto")`` tries TensorRT (the INT8 Q/DQ graph, built on the
device and cached next to the bundle), then onnxruntime — INT8 or fp32, whichever is
faster on this device among those the bundle's parity report certifies, timed at
start-up (:mod:`edge_emotion.engines.auto`; ``engine.selection`` says why) — then
torch; ``engine.fallback`` records why each earlier choice was skipped.
"""

from __future__ import annotations

from pathlib import Path

from edge_emotion.bundle import Bundle, load_bundle
from edge_emotion.engines.auto import measured_onnxruntime
from edge_emotion.engines.base import Engine, EngineUnavailable
from edge_emotion.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge_emotion.engines.tensorrt_engine import PRECISIONS, TensorRTEngine, default_plan_cache
from edge_emotion.engines.torch_engine import TorchEngine

BACKENDS = ("auto", "tensorrt", "onnxruntime", "onnxruntime-fp32", "torch")
# "onnxruntime": INT8 or fp32, by measurement (edge_emotion.engines.auto).
AUTO_ORDER = ("tensorrt", "onnxruntime", "torch")

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "Engine",
    "EngineUnavailable",
    "OnnxRuntimeEngine",
    "TensorRTEngine",
    "TorchEngine",
    "create_engine",
    "default_plan_cache",
]


def create_engine(
    bundle: Bundle | Path | str,
    backend: str = "auto",
    *,
    threads: int = 1,
    trt_cache_dir: Path | str | None = None,
    trt_precision: str = "int8",
) -> Engine:
    """Build an engine for ``bundle`` (a :class:`Bundle` or a bundle path).

    ``backend``: ``"tensorrt"`` (INT8 Q/DQ graph built by TensorRT on this device),
    ``"onnxruntime"`` (INT8), ``"onnxruntime-fp32"``, ``"torch"``, or ``"auto"`` — the
    first of those that works here, in that order, onnxruntime's INT8 and fp32 timed
    against each other (the faster certified one); the engine's ``fallback`` lists why
    earlier ones were skipped, its ``selection`` why it was chosen. ``threads`` is the CPU
    thread count of onnxruntime/torch;
    ``trt_cache_dir`` where TensorRT plans are cached (default: :func:`default_plan_cache`);
    ``trt_precision`` which graph TensorRT builds: ``"int8"`` (Q/DQ), ``"fp16"`` (needs
    ``model.fp16.onnx``, export with ``--fp16``) or ``"fp32"``.
    Raises ``ValueError`` for an unknown backend and :class:`EngineUnavailable` when the
    requested (or, for auto, every) backend cannot run.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    if trt_precision not in PRECISIONS:
        raise ValueError(f"trt_precision must be int8, fp16 or fp32; got {trt_precision!r}")
    options = {"threads": threads, "trt_cache_dir": trt_cache_dir, "trt_precision": trt_precision}
    if backend != "auto":
        return _create(bundle, backend, **options)
    reasons: list[str] = []
    for name in AUTO_ORDER:
        try:
            if name == "onnxruntime":
                engine, skipped = measured_onnxruntime(bundle, threads)
                reasons += skipped
            else:
                engine = _create(bundle, name, **options)
        except EngineUnavailable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        engine.fallback = reasons
        return engine
    raise EngineUnavailable("no inference backend can run here:\n  " + "\n  ".join(reasons))


def _create(bundle: Bundle, backend: str, threads: int, trt_cache_dir, trt_precision) -> Engine:
    if backend == "tensorrt":
        return TensorRTEngine(bundle, precision=trt_precision, cache_dir=trt_cache_dir)
    if backend == "onnxruntime":
        return OnnxRuntimeEngine(bundle, precision="int8", intra_op_threads=threads)
    if backend == "onnxruntime-fp32":
        return OnnxRuntimeEngine(bundle, precision="fp32", intra_op_threads=threads)
    return TorchEngine(bundle, threads=threads)
