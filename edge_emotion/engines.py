"""Inference engines over a model bundle: TensorRT, onnxruntime (INT8 / fp32), torch.

Every engine takes raw features in the model layout — EEG differential-entropy maps
(B, bands, channels, subwindows) and HRV series (B, 1, hrv_length) — applies the
bundle's normalisation, runs the model and returns P(high) per target, (B, n_targets)
float32, in the bundle's target order.

The heavy backends are imported only when an engine of that kind is created, so the
runtime imports this module on a Jetson that has TensorRT but no torch or onnxruntime,
or onnxruntime but no TensorRT.

``create_engine(bundle, "auto")`` tries TensorRT (the INT8 Q/DQ graph, built on the
device and cached next to the bundle), then onnxruntime INT8, then onnxruntime fp32,
then torch; ``engine.fallback`` records why each earlier choice was skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import (
    ROLE_ONNX_FP16,
    ROLE_ONNX_FP32,
    ROLE_ONNX_INT8,
    ROLE_TORCH_STATE,
    Bundle,
    load_bundle,
)

BACKENDS = ("auto", "tensorrt", "onnxruntime", "onnxruntime-fp32", "torch")
AUTO_ORDER = ("tensorrt", "onnxruntime", "onnxruntime-fp32", "torch")


class EngineUnavailable(RuntimeError):
    """A backend cannot run here (library missing, no GPU, file missing from the bundle)."""


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows; same result as 1/(1+exp(-x)).
    out = np.empty_like(logits, dtype=np.float32)
    pos = logits >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-logits[pos]))
    e = np.exp(logits[~pos])
    out[~pos] = e / (1.0 + e)
    return out


class Engine:
    """Base class: input checks, normalisation and sigmoid; subclasses run ``_logits``."""

    name: str = "engine"

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        fc = bundle.feature_config
        self._eeg_shape = tuple(fc.eeg_shape)
        self._ecg_shape = (1, *tuple(fc.hrv_shape))
        self.n_targets = len(bundle.targets)
        self.fallback: list[str] = []

    @property
    def targets(self) -> tuple[str, ...]:
        return self.bundle.targets

    def check_inputs(self, eeg: Any, ecg: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return (eeg, ecg) as float64 arrays with a batch axis, or raise ``ValueError``.

        A single window without its batch axis — eeg (bands, channels, subwindows), ecg
        (1, L) or (L,) — is accepted and treated as batch 1.
        """
        eeg = np.asarray(eeg, dtype=np.float64)
        ecg = np.asarray(ecg, dtype=np.float64)
        if eeg.shape == self._eeg_shape:
            eeg = eeg[None]
        if ecg.shape in (self._ecg_shape, self._ecg_shape[1:]):
            ecg = ecg.reshape(1, *self._ecg_shape)
        if eeg.ndim != 4 or eeg.shape[1:] != self._eeg_shape:
            raise ValueError(
                f"eeg must have shape (batch, {', '.join(map(str, self._eeg_shape))}) "
                f"(bands, channels, subwindows), got {eeg.shape}"
            )
        if ecg.ndim != 3 or ecg.shape[1:] != self._ecg_shape:
            raise ValueError(
                f"ecg must have shape (batch, {', '.join(map(str, self._ecg_shape))}), "
                f"got {ecg.shape}"
            )
        if eeg.shape[0] != ecg.shape[0]:
            raise ValueError(f"eeg and ecg batch sizes differ: {eeg.shape[0]} vs {ecg.shape[0]}")
        if eeg.shape[0] == 0:
            raise ValueError("eeg and ecg must hold at least one window (batch >= 1)")
        if not (np.isfinite(eeg).all() and np.isfinite(ecg).all()):
            raise ValueError("eeg and ecg must be finite (no NaN/inf); abstain on such windows")
        return eeg, ecg

    def predict(self, eeg: Any, ecg: Any) -> np.ndarray:
        """P(high) per target, (B, n_targets) float32, for raw (unnormalised) features."""
        eeg, ecg = self.check_inputs(eeg, ecg)
        eeg_n, ecg_n = self.bundle.normalization.apply(eeg, ecg)
        logits = self._logits(np.ascontiguousarray(eeg_n), np.ascontiguousarray(ecg_n))
        return _sigmoid(np.asarray(logits, dtype=np.float32).reshape(-1, self.n_targets))

    def predict_logits(self, eeg: Any, ecg: Any) -> np.ndarray:
        """Raw model logits (B, n_targets) for raw features (used by parity checks)."""
        eeg, ecg = self.check_inputs(eeg, ecg)
        eeg_n, ecg_n = self.bundle.normalization.apply(eeg, ecg)
        return np.asarray(self._logits(eeg_n, ecg_n), dtype=np.float32)

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} bundle={self.bundle.path}>"


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
        model_path = bundle.file_for_role(roles[precision])
        if model_path is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no {roles[precision]} model")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
        )
        self.precision = precision
        self.name = "onnxruntime" if precision == "int8" else f"onnxruntime-{precision}"
        self._in = bundle.input_names
        self._out = bundle.output_name

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        return self.session.run([self._out], {self._in[0]: eeg, self._in[1]: ecg})[0]


class TorchEngine(Engine):
    """The original torch model, rebuilt from the manifest's model config and ``model.pt``."""

    name = "torch"

    def __init__(self, bundle: Bundle, threads: int | None = 1):
        super().__init__(bundle)
        try:
            import torch

            from edge_emotion.training.models import build_model
        except ImportError as exc:
            raise EngineUnavailable(f"torch backend needs torch and training ({exc})") from None
        state_path = bundle.file_for_role(ROLE_TORCH_STATE)
        if state_path is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no torch state (model.pt)")
        if threads is not None:
            torch.set_num_threads(int(threads))
        model = build_model(bundle.manifest["model"]["config"])
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        self._torch = torch
        self.model = model

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(eeg), self._torch.from_numpy(ecg))
        return out.numpy()


class TensorRTEngine(Engine):
    """TensorRT engine built on this device from the bundle's Q/DQ (or fp16/fp32) ONNX.

    The serialized plan is cached next to the bundle (or in ``cache_dir``) under a key of
    device name, compute capability and TensorRT version; see
    :mod:`edge_emotion.export.tensorrt`.
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
        from edge_emotion.export import tensorrt as trt_support

        ok, why = trt_support.tensorrt_available()
        if not ok:
            raise EngineUnavailable(why)
        role = {"int8": ROLE_ONNX_INT8, "fp16": ROLE_ONNX_FP16, "fp32": ROLE_ONNX_FP32}[precision]
        onnx_path = bundle.file_for_role(role)
        if onnx_path is None:
            raise EngineUnavailable(f"bundle {bundle.path} has no {role} model for TensorRT")
        shapes = {
            bundle.input_names[0]: self._eeg_shape,
            bundle.input_names[1]: self._ecg_shape,
        }
        self.plan_path = trt_support.build_or_load_plan(
            onnx_path,
            input_shapes=shapes,
            cache_dir=Path(cache_dir) if cache_dir is not None else default_plan_cache(bundle),
            max_batch=max_batch,
        )
        self.runner = trt_support.TrtRunner(self.plan_path.read_bytes())
        self.name = "tensorrt" if precision == "int8" else f"tensorrt-{precision}"
        self._in = bundle.input_names
        self._out = bundle.output_name

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:
        return self.runner.run({self._in[0]: eeg, self._in[1]: ecg})[self._out]


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
    first of those that works here, in that order; the engine's ``fallback`` lists why
    earlier ones were skipped. ``threads`` is the CPU thread count of onnxruntime/torch;
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
    if trt_precision not in ("int8", "fp16", "fp32"):
        raise ValueError(f"trt_precision must be int8, fp16 or fp32; got {trt_precision!r}")
    options = {"threads": threads, "trt_cache_dir": trt_cache_dir, "trt_precision": trt_precision}
    if backend != "auto":
        return _create(bundle, backend, **options)
    reasons: list[str] = []
    for name in AUTO_ORDER:
        try:
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
