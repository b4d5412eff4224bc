"""A fake ``tensorrt`` module that checks how edge_emotion.engines.tensorrt calls it.

It mirrors the TensorRT 10.x Python API surface the project uses (names, argument
order, the rules the real library enforces) and executes "engines" with onnxruntime on
the ONNX bytes that were parsed, so a runner's output can be compared with onnxruntime.
What it cannot check: anything about real kernels, precision, CUDA streams or memory.

Rules enforced (each violation raises ``FakeTrtError``):

* ``Builder.create_network(flags)``: flags must include ``1 << STRONGLY_TYPED`` when the
  enum has it (TensorRT 10); with ``trt11=True`` the enum has no such member and flags
  must be 0. ``BuilderFlag.FP16/INT8`` do not exist in the TensorRT 11 fake and are
  recorded (and refused with strong typing) in the 10 fake.
* ``OnnxParser(network, logger)`` argument order; ``parse(buffer, path=None)`` (the
  model's bytes; the plan embeds them, so it runs exactly what was parsed).
* ``config.set_memory_pool_limit(MemoryPoolType.WORKSPACE, int)``.
* an optimisation profile with ``set_shape(name, min, opt, max)`` for every network
  input, ``min <= opt <= max`` element-wise, same rank as the ONNX input.
* ``build_serialized_network(network, config)`` (network first).
* at run time: ``set_input_shape`` inside the profile for every input *before*
  ``get_tensor_shape`` of an output; ``set_tensor_address`` for every I/O tensor before
  ``execute_async_v3(stream_handle: int)``.
"""

from __future__ import annotations

import base64
import enum
import json
import types
from itertools import count

import numpy as np

PLAN_MAGIC = b"FAKETRTPLAN\n"


class FakeTrtError(AssertionError):
    """The code under test called the fake TensorRT API wrongly."""


# ----------------------------------------------------------------- fake device memory

MEMORY: dict[int, np.ndarray] = {}
_next_ptr = count(0x10000, 0x10000)


class FakeDeviceMemory:
    """Host-backed stand-in for :class:`edge_emotion.engines.tensorrt.DeviceMemory`."""

    def __init__(self, name: str = "Fake Orin (nvgpu)", capability=(8, 7)):
        self.name, self.capability = name, tuple(capability)
        self.synchronized = 0
        self.freed: list[int] = []

    def device_name(self) -> str:
        return self.name

    def compute_capability(self) -> tuple[int, int]:
        return self.capability

    def malloc(self, nbytes: int) -> int:
        ptr = next(_next_ptr)
        MEMORY[ptr] = np.zeros(int(nbytes), dtype=np.uint8)
        return ptr

    def free(self, ptr: int) -> None:
        MEMORY.pop(ptr)
        self.freed.append(ptr)

    def create_stream(self) -> int:
        return 0xBEEF

    def copy_htod(self, ptr: int, host: np.ndarray, stream: int) -> None:
        raw = np.ascontiguousarray(host).reshape(-1).view(np.uint8)
        MEMORY[ptr][: raw.size] = raw

    def copy_dtoh(self, host: np.ndarray, ptr: int, stream: int) -> None:
        host.reshape(-1).view(np.uint8)[:] = MEMORY[ptr][: host.nbytes]

    def synchronize(self, stream: int) -> None:
        self.synchronized += 1


# ----------------------------------------------------------------- the module


def make_fake_tensorrt(version: str = "10.3.0", trt11: bool = False) -> types.ModuleType:
    """A fresh fake module; ``mod.calls`` lists (api, args) in call order."""
    mod = types.ModuleType("tensorrt")
    mod.__version__ = "11.4.0" if trt11 else version
    calls: list[tuple[str, tuple]] = []
    mod.calls = calls

    def record(name, *args):
        calls.append((name, args))

    class Severity(enum.IntEnum):
        ERROR = 1
        WARNING = 2
        INFO = 3

    class Logger:
        ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

        def __init__(self, severity=Severity.WARNING):
            record("Logger", severity)

    if trt11:
        NetworkDefinitionCreationFlag = enum.IntEnum(
            "NetworkDefinitionCreationFlag", {"PREFER_JIT_PYTHON_PLUGINS": 3}
        )
        BuilderFlag = enum.IntEnum("BuilderFlag", {"DEBUG": 0, "REFIT": 4})
    else:
        NetworkDefinitionCreationFlag = enum.IntEnum(
            "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
        )
        BuilderFlag = enum.IntEnum("BuilderFlag", {"FP16": 0, "INT8": 1, "REFIT": 4})

    class MemoryPoolType(enum.IntEnum):
        WORKSPACE = 0

    class TensorIOMode(enum.IntEnum):
        NONE = 0
        INPUT = 1
        OUTPUT = 2

    class DataType(enum.IntEnum):
        FLOAT = 0
        HALF = 1
        INT8 = 2

    def nptype(dt):
        return {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8}[dt]

    class _Tensor:
        def __init__(self, name, shape):
            self.name, self.shape = name, tuple(shape)

    class Network:
        def __init__(self, flags):
            self.flags = flags
            self.inputs: list[_Tensor] = []
            self.outputs: list[_Tensor] = []
            self.onnx_model: bytes | None = None

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, i):
            return self.inputs[i]

    class OnnxParser:
        def __init__(self, network, logger):
            if not isinstance(network, Network) or not isinstance(logger, Logger):
                raise FakeTrtError("OnnxParser(network, logger): wrong argument types/order")
            record("OnnxParser", network, logger)
            self.network = network
            self.errors: list[str] = []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

        def parse(self, model, path=None):
            if not isinstance(model, (bytes, bytearray, memoryview)):
                raise FakeTrtError(f"parse takes the model's bytes (a buffer), got {type(model)}")
            if path is not None and not isinstance(path, str):
                raise FakeTrtError(f"parse's path (external weights) is a str, got {type(path)}")
            record("parse", len(model))
            import onnx

            try:
                graph = onnx.load_model_from_string(bytes(model))
            except Exception as exc:
                self.errors.append(f"In node -1 (parse): INVALID_GRAPH: {exc}")
                return False

            def shape(v):
                return [d.dim_value if d.dim_value else -1 for d in v.type.tensor_type.shape.dim]

            self.network.inputs = [_Tensor(v.name, shape(v)) for v in graph.graph.input]
            self.network.outputs = [_Tensor(v.name, shape(v)) for v in graph.graph.output]
            self.network.onnx_model = bytes(model)
            return True

    class OptimizationProfile:
        def __init__(self):
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name, min, opt, max):
            mn, op, mx = (tuple(int(d) for d in s) for s in (min, opt, max))
            if not (len(mn) == len(op) == len(mx)):
                raise FakeTrtError(f"set_shape({name}): ranks differ {mn} {op} {mx}")
            if not all(a <= b <= c for a, b, c in zip(mn, op, mx, strict=True)):
                raise FakeTrtError(f"set_shape({name}): need min <= opt <= max, {mn} {op} {mx}")
            record("set_shape", name, mn, op, mx)
            self.shapes[name] = (mn, op, mx)

    class BuilderConfig:
        def __init__(self):
            self.profiles: list[OptimizationProfile] = []
            self.pool_limits: dict = {}
            self.flags: set = set()

        def set_memory_pool_limit(self, pool, size):
            if not isinstance(pool, MemoryPoolType) or not isinstance(size, int):
                raise FakeTrtError("set_memory_pool_limit(MemoryPoolType, int): wrong arguments")
            record("set_memory_pool_limit", pool, size)
            self.pool_limits[pool] = size

        def set_flag(self, flag):
            record("set_flag", flag)
            self.flags.add(flag)

        def add_optimization_profile(self, profile):
            record("add_optimization_profile", profile)
            self.profiles.append(profile)
            return len(self.profiles) - 1

    class Builder:
        def __init__(self, logger):
            if not isinstance(logger, Logger):
                raise FakeTrtError("Builder(logger) needs a Logger")
            record("Builder", logger)

        def create_network(self, flags=0):
            record("create_network", flags)
            strongly = getattr(NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
            if strongly is not None and not flags & (1 << int(strongly)):
                raise FakeTrtError("TensorRT 10: the network must be created STRONGLY_TYPED")
            if strongly is None and flags != 0:
                raise FakeTrtError(f"TensorRT 11 fake: unexpected network flags {flags}")
            return Network(flags)

        def create_builder_config(self):
            record("create_builder_config")
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            if not isinstance(network, Network) or not isinstance(config, BuilderConfig):
                raise FakeTrtError("build_serialized_network(network, config): wrong order/types")
            record("build_serialized_network", network, config)
            if network.onnx_model is None:
                raise FakeTrtError("build_serialized_network before a successful parse")
            if config.flags & {
                getattr(BuilderFlag, "FP16", None),
                getattr(BuilderFlag, "INT8", None),
            }:
                raise FakeTrtError("precision builder flags are not allowed with strong typing")
            if len(config.profiles) != 1:
                raise FakeTrtError(f"expected one optimisation profile, got {len(config.profiles)}")
            prof = config.profiles[0].shapes
            for t in network.inputs:
                if t.name not in prof:
                    raise FakeTrtError(f"profile lacks input {t.name!r}")
                for dim_onnx, dim_min in zip(t.shape, prof[t.name][0], strict=True):
                    if dim_onnx != -1 and dim_onnx != dim_min:
                        raise FakeTrtError(f"profile shape for {t.name} contradicts the ONNX")
            body = {
                "onnx": base64.b64encode(network.onnx_model).decode("ascii"),
                "profile": {k: [list(s) for s in v] for k, v in prof.items()},
                "outputs": [t.name for t in network.outputs],
                "inputs": [t.name for t in network.inputs],
            }
            return PLAN_MAGIC + json.dumps(body).encode()

    class ExecutionContext:
        def __init__(self, engine):
            self.engine = engine
            self.shapes: dict[str, tuple] = {}
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name, shape):
            record("set_input_shape", name, tuple(shape))
            if name not in self.engine.inputs:
                raise FakeTrtError(f"set_input_shape on non-input {name!r}")
            mn, _, mx = self.engine.profile[name]
            shape = tuple(int(d) for d in shape)
            if len(shape) != len(mn) or not all(
                a <= s <= c for a, s, c in zip(mn, shape, mx, strict=True)
            ):
                return False
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name):
            record("get_tensor_shape", name)
            if name in self.engine.outputs:
                missing = [n for n in self.engine.inputs if n not in self.shapes]
                if missing:
                    raise FakeTrtError(f"get_tensor_shape({name}) before set_input_shape {missing}")
                return self.engine.output_shape(name, self.shapes)
            return self.shapes.get(name, tuple(self.engine.profile[name][0]))

        def set_tensor_address(self, name, ptr):
            if not isinstance(ptr, int):
                raise FakeTrtError(f"set_tensor_address({name}, ptr) needs an int pointer")
            record("set_tensor_address", name, ptr)
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream_handle):
            if not isinstance(stream_handle, int):
                raise FakeTrtError("execute_async_v3(stream_handle) needs an int handle")
            record("execute_async_v3", stream_handle)
            names = self.engine.inputs + self.engine.outputs
            missing = [n for n in names if n not in self.addresses]
            if missing:
                raise FakeTrtError(f"execute_async_v3 before set_tensor_address for {missing}")
            if any(n not in self.shapes for n in self.engine.inputs):
                raise FakeTrtError("execute_async_v3 before set_input_shape for every input")
            feeds = {}
            for n in self.engine.inputs:
                size = int(np.prod(self.shapes[n])) * 4
                feeds[n] = MEMORY[self.addresses[n]][:size].view(np.float32).reshape(self.shapes[n])
            outs = self.engine.session.run(self.engine.outputs, feeds)
            for n, arr in zip(self.engine.outputs, outs, strict=True):
                raw = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1).view(np.uint8)
                MEMORY[self.addresses[n]][: raw.size] = raw
            return True

    class Engine:
        def __init__(self, body):
            import onnxruntime as ort

            model = base64.b64decode(body["onnx"])
            self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            self.inputs = list(body["inputs"])
            self.outputs = list(body["outputs"])
            self.profile = {k: [tuple(s) for s in v] for k, v in body["profile"].items()}

        @property
        def num_io_tensors(self):
            return len(self.inputs) + len(self.outputs)

        def get_tensor_name(self, i):
            return (self.inputs + self.outputs)[i]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if name in self.inputs else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return DataType.FLOAT

        def output_shape(self, name, shapes):
            meta = next(o for o in self.session.get_outputs() if o.name == name)
            batch = next(iter(shapes.values()))[0]
            return tuple(batch if not isinstance(d, int) else d for d in meta.shape)

        def create_execution_context(self):
            record("create_execution_context")
            return ExecutionContext(self)

    class Runtime:
        def __init__(self, logger):
            if not isinstance(logger, Logger):
                raise FakeTrtError("Runtime(logger) needs a Logger")
            record("Runtime", logger)

        def deserialize_cuda_engine(self, plan):
            record("deserialize_cuda_engine", len(plan))
            if not isinstance(plan, (bytes, bytearray)) or not plan.startswith(PLAN_MAGIC):
                return None  # the real runtime logs an error and returns None
            return Engine(json.loads(bytes(plan[len(PLAN_MAGIC) :]).decode()))

    for name, obj in list(locals().items()):
        if name[0].isupper() or name == "nptype":
            setattr(mod, name, obj)
    return mod
