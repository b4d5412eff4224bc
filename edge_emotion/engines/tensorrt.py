"""TensorRT engine build and execution for bundle ONNX graphs (on the Jetson itself).

TensorRT engines are specific to a GPU and a TensorRT version, so they are built on the
device from the bundle's ONNX (the INT8 graph carries explicit Q/DQ nodes) and cached
next to the bundle under a key of device name, compute capability, TensorRT version and
the ONNX file's sha256. Each cached plan has its own sha256 beside it (``.plan.sha256``);
a plan that does not match it is rebuilt, never deserialized.

API used (TensorRT 10.x Python API, documented in the TensorRT Python API reference and
the 8.x->10.x / 10.x->11.x migration guides):

* build: ``Builder(logger)``, ``create_network(1 << STRONGLY_TYPED)``,
  ``OnnxParser(network, logger).parse(model_bytes)`` (the bytes the bundle verified),
  ``create_builder_config``,
  ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)``, one optimisation profile with
  ``set_shape(name, min, opt, max)`` per input (batch is the dynamic dimension),
  ``build_serialized_network(network, config)``. No ``BuilderFlag.INT8/FP16``: precision
  comes from the graph (Q/DQ nodes, or an fp16 ONNX), which is what a strongly typed
  network means.
* run: ``Runtime(logger).deserialize_cuda_engine``, ``create_execution_context``, the
  name-based tensor API (``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
  ``get_tensor_dtype``), ``set_input_shape`` for every input, then
  ``get_tensor_shape`` for outputs, ``set_tensor_address`` for every I/O tensor and
  ``execute_async_v3(stream)``.
* TensorRT 11 removed weak typing (``BuilderFlag.FP16/INT8``, calibrators); networks
  are always strongly typed and ``STRONGLY_TYPED`` is kept only for compatibility, so
  the flag is passed when the enum still has it and 0 otherwise. Everything else used
  here is unchanged in 11.x.

Device memory comes from torch (a CUDA build, as NVIDIA ships for JetPack) when present,
else from cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` in older releases);
see :func:`default_device`. Neither is needed at import time.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

DEFAULT_WORKSPACE_BYTES = 256 << 20

log = logging.getLogger("edge_emotion.run")


def import_tensorrt():
    """Import and return the ``tensorrt`` module (from JetPack); ImportError if absent."""
    import tensorrt

    return tensorrt


def tensorrt_available() -> tuple[bool, str]:
    """(True, version) when TensorRT and a CUDA device are usable here, else (False, why)."""
    try:
        trt = import_tensorrt()
    except Exception as exc:  # a broken JetPack install raises more than ImportError
        return False, f"tensorrt is not importable ({type(exc).__name__}: {exc})"
    try:
        default_device()
    except Exception as exc:
        return False, f"tensorrt {trt.__version__} found but no CUDA device usable: {exc}"
    return True, f"tensorrt {trt.__version__}"


def trt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def network_flags(trt) -> int:
    """Creation flags for a strongly typed network (TensorRT 10), 0 where it is implicit."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


# ---------------------------------------------------------------------------- device memory


class DeviceMemory(Protocol):
    """What the runner needs from a CUDA binding (pointers are ints)."""

    def device_name(self) -> str: ...
    def compute_capability(self) -> tuple[int, int]: ...
    def malloc(self, nbytes: int) -> int: ...
    def free(self, ptr: int) -> None: ...
    def create_stream(self) -> int: ...
    def copy_htod(self, ptr: int, host: np.ndarray, stream: int) -> None: ...
    def copy_dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None: ...
    def synchronize(self, stream: int) -> None: ...


class TorchCudaMemory:
    """Device buffers as torch CUDA tensors (torch for JetPack ships with CUDA)."""

    def __init__(self, device_index: int = 0):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch is installed but torch.cuda.is_available() is False")
        self._torch = torch
        self._dev = torch.device("cuda", device_index)
        self._buffers: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}

    def device_name(self) -> str:
        return self._torch.cuda.get_device_name(self._dev)

    def compute_capability(self) -> tuple[int, int]:
        return tuple(self._torch.cuda.get_device_capability(self._dev))

    def malloc(self, nbytes: int) -> int:
        t = self._torch.empty(max(int(nbytes), 1), dtype=self._torch.uint8, device=self._dev)
        self._buffers[t.data_ptr()] = t
        return t.data_ptr()

    def free(self, ptr: int) -> None:
        self._buffers.pop(ptr, None)

    def create_stream(self) -> int:
        s = self._torch.cuda.Stream(device=self._dev)
        self._streams[s.cuda_stream] = s
        return s.cuda_stream

    def copy_htod(self, ptr: int, host: np.ndarray, stream: int) -> None:
        src = self._torch.from_numpy(np.ascontiguousarray(host).reshape(-1).view(np.uint8))
        with self._torch.cuda.stream(self._streams[stream]):
            self._buffers[ptr][: src.numel()].copy_(src)

    def copy_dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None:
        with self._torch.cuda.stream(self._streams[stream]):
            data = self._buffers[ptr][: host.nbytes].cpu()
        host.reshape(-1).view(np.uint8)[:] = data.numpy()

    def synchronize(self, stream: int) -> None:
        self._streams[stream].synchronize()


class CudaPythonMemory:
    """Device buffers through cuda-python's runtime bindings."""

    def __init__(self, device_index: int = 0):
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart  # cuda-python < 12.6
        self._rt = cudart
        self._check(cudart.cudaSetDevice(device_index))
        self._index = device_index

    def _check(self, result):
        err = result[0]
        if int(err) != 0:
            raise RuntimeError(f"CUDA runtime error {err}")
        return result[1] if len(result) == 2 else result[1:]

    def _props(self):
        return self._check(self._rt.cudaGetDeviceProperties(self._index))

    def device_name(self) -> str:
        name = self._props().name
        return name.decode(errors="replace").rstrip("\x00") if isinstance(name, bytes) else name

    def compute_capability(self) -> tuple[int, int]:
        p = self._props()
        return int(p.major), int(p.minor)

    def malloc(self, nbytes: int) -> int:
        return int(self._check(self._rt.cudaMalloc(max(int(nbytes), 1))))

    def free(self, ptr: int) -> None:
        self._rt.cudaFree(ptr)

    def create_stream(self) -> int:
        return int(self._check(self._rt.cudaStreamCreate()))

    def copy_htod(self, ptr: int, host: np.ndarray, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self._rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, stream))

    def copy_dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self._rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, stream))

    def synchronize(self, stream: int) -> None:
        self._check(self._rt.cudaStreamSynchronize(stream))


def default_device() -> DeviceMemory:
    """torch CUDA if usable, else cuda-python; RuntimeError naming both failures."""
    errors = []
    for cls in (TorchCudaMemory, CudaPythonMemory):
        try:
            return cls()
        except Exception as exc:
            errors.append(f"{cls.__name__}: {type(exc).__name__}: {exc}")
    raise RuntimeError("no CUDA memory backend (" + "; ".join(errors) + ")")


# ---------------------------------------------------------------------------- build


def build_serialized_plan(
    onnx_model: bytes | Path | str,
    input_shapes: dict[str, tuple[int, ...]],
    max_batch: int = 16,
    opt_batch: int = 1,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    trt=None,
) -> bytes:
    """Build a strongly typed TensorRT engine from an ONNX model and return the plan bytes.

    ``onnx_model`` is the model's bytes (what a bundle verified; parsed with
    ``OnnxParser.parse``) or a path to read them from. ``input_shapes`` maps each input
    name to its shape without the batch axis; the optimisation profile covers batch
    1..``max_batch`` tuned for ``opt_batch``. Raises ``RuntimeError`` with the parser's
    messages when TensorRT rejects the graph.
    """
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}")
    label, model = _onnx_bytes(onnx_model)
    trt = trt or import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT could not parse {label}: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    profile = builder.create_optimization_profile()
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    unknown = sorted(set(names) ^ set(input_shapes))
    if unknown:
        raise ValueError(f"input_shapes {sorted(input_shapes)} do not match ONNX inputs {names}")
    for name in names:
        shape = tuple(int(d) for d in input_shapes[name])
        profile.set_shape(name, (1, *shape), (opt_batch, *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {label} (see log)")
    return bytes(plan)


def _onnx_bytes(onnx_model: bytes | Path | str) -> tuple[str, bytes]:
    """(label for messages, model bytes) from bytes or a path."""
    if isinstance(onnx_model, (bytes, bytearray)):
        return "the ONNX model", bytes(onnx_model)
    return str(onnx_model), Path(onnx_model).read_bytes()


def plan_cache_name(
    onnx_model: bytes | Path | str,
    device_name: str,
    capability: tuple[int, int],
    trt_version: str,
    max_batch: int,
    stem: str | None = None,
) -> str:
    """File name of a cached plan: device, compute capability, TensorRT version, ONNX hash.

    ``stem`` defaults to the ONNX file's stem (``"model"`` for bytes).
    """
    if stem is None:
        stem = "model" if isinstance(onnx_model, (bytes, bytearray)) else Path(onnx_model).stem
    digest = hashlib.sha256(_onnx_bytes(onnx_model)[1]).hexdigest()[:16]
    device = re.sub(r"[^A-Za-z0-9]+", "-", device_name).strip("-").lower() or "gpu"
    return (
        f"{stem}.{device}.sm{capability[0]}{capability[1]}"
        f".trt{trt_version}.b{max_batch}.{digest}.plan"
    )


@dataclass(frozen=True)
class CachedPlan:
    """A serialized plan and where it is cached; ``built`` when this call built it."""

    path: Path
    plan: bytes
    built: bool


def plan_checksum_path(plan_path: Path) -> Path:
    """Where the sha256 of a cached plan is kept: ``<plan>.sha256``."""
    return plan_path.with_name(plan_path.name + ".sha256")


def build_or_load_plan(
    onnx_model: bytes | Path | str,
    input_shapes: dict[str, tuple[int, ...]],
    cache_dir: Path | str,
    max_batch: int = 16,
    trt=None,
    device: DeviceMemory | None = None,
    stem: str | None = None,
) -> CachedPlan:
    """The cached plan for this device/TensorRT/ONNX, built on a miss.

    A cached plan is used only when its bytes match the sha256 stored beside it (written
    after the plan, so a build that crashed between the two is rebuilt too); any other
    plan is rebuilt and replaced. The bytes returned are the bytes that were checked.
    """
    trt = trt or import_tensorrt()
    device = device or default_device()
    _, model = _onnx_bytes(onnx_model)
    if stem is None and not isinstance(onnx_model, (bytes, bytearray)):
        stem = Path(onnx_model).stem
    name = plan_cache_name(
        model,
        device.device_name(),
        device.compute_capability(),
        trt.__version__,
        max_batch,
        stem=stem,
    )
    cache_dir = Path(cache_dir)
    plan_path = cache_dir / name
    checksum_path = plan_checksum_path(plan_path)
    if plan_path.is_file():
        try:
            plan = plan_path.read_bytes()
            stored = checksum_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            plan, stored = b"", ""
        if plan and hashlib.sha256(plan).hexdigest() == stored:
            return CachedPlan(plan_path, plan, built=False)
        log.warning("cached TensorRT plan %s fails its checksum; rebuilding it", plan_path)
    plan = build_serialized_plan(model, input_shapes, max_batch=max_batch, trt=trt)
    cache_dir.mkdir(parents=True, exist_ok=True)
    checksum = (hashlib.sha256(plan).hexdigest() + "\n").encode("ascii")
    # Each file atomically: a crashed build never leaves a truncated plan or checksum.
    for path, data in ((plan_path, plan), (checksum_path, checksum)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return CachedPlan(plan_path, plan, built=True)


# ---------------------------------------------------------------------------- run


class TrtRunner:
    """Runs a deserialized engine with the name-based tensor API on one CUDA stream.

    Buffers grow to the largest batch seen and are reused; ``run`` is synchronous.
    """

    def __init__(self, plan: bytes, trt=None, device: DeviceMemory | None = None):
        self._trt = trt or import_tensorrt()
        self._device = device or default_device()
        self._logger = self._trt.Logger(self._trt.Logger.WARNING)
        self._runtime = self._trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise RuntimeError(
                "TensorRT could not deserialize the plan (built for another GPU or "
                "TensorRT version? delete the cached .plan to rebuild)"
            )
        self.context = self.engine.create_execution_context()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, np.dtype] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            mode = self.engine.get_tensor_mode(name)
            (self.inputs if mode == self._trt.TensorIOMode.INPUT else self.outputs).append(name)
            self.dtypes[name] = np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))
        self._stream = self._device.create_stream()
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (ptr, capacity bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if cap:
                self._device.free(ptr)
            ptr = self._device.malloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch: ``feeds`` maps every input name to an array; returns outputs."""
        missing = sorted(set(self.inputs) - set(feeds))
        if missing:
            raise ValueError(f"missing TensorRT inputs {missing}; engine inputs {self.inputs}")
        for name in self.inputs:
            host = np.ascontiguousarray(feeds[name], dtype=self.dtypes[name])
            if not self.context.set_input_shape(name, tuple(host.shape)):
                raise ValueError(f"input {name!r} shape {host.shape} is outside the profile")
            ptr = self._buffer(name, host.nbytes)
            self._device.copy_htod(ptr, host, self._stream)
            self.context.set_tensor_address(name, ptr)
        results = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host = np.empty(shape, dtype=self.dtypes[name])
            self.context.set_tensor_address(name, self._buffer(name, host.nbytes))
            results[name] = host
        if not self.context.execute_async_v3(self._stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see log)")
        for name, host in results.items():
            self._device.copy_dtoh(host, self._buffers[name][0], self._stream)
        self._device.synchronize(self._stream)
        return results

    def close(self) -> None:
        for ptr, _ in self._buffers.values():
            self._device.free(ptr)
        self._buffers.clear()
