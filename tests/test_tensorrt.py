"""TensorRT build/run code against the fake module (call order, flags, profiles, cache).

The real-TensorRT test at the bottom runs only where ``tensorrt`` imports and a CUDA
device is usable (a Jetson with JetPack); elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnxruntime as ort
import pytest
from export_helpers import exported_bundle
from fake_tensorrt import FakeDeviceMemory, FakeTrtError, make_fake_tensorrt

from edge_emotion.engines import tensorrt as T

SHAPES = {"eeg": (4, 14, 10), "ecg": (1, 32)}


def _int8_path():
    return exported_bundle() / "model.int8.onnx"


def _names(fake):
    return [c[0] for c in fake.calls]


@pytest.mark.parametrize("trt11", [False, True])
def test_build_uses_strong_typing_profile_and_no_precision_flags(trt11):
    fake = make_fake_tensorrt(trt11=trt11)
    plan = T.build_serialized_plan(_int8_path(), SHAPES, max_batch=8, opt_batch=1, trt=fake)
    assert plan.startswith(b"FAKETRTPLAN")
    names = _names(fake)
    # documented order: builder, network, parser(network, logger), parse, config, build
    order = ["Builder", "create_network", "OnnxParser", "parse"]
    assert [n for n in names if n in order] == order
    assert names.index("add_optimization_profile") < names.index("build_serialized_network")
    flags = next(c[1][0] for c in fake.calls if c[0] == "create_network")
    assert flags == (0 if trt11 else 1 << 1)
    assert "set_flag" not in names  # precision comes from the Q/DQ graph, not builder flags
    shapes = {c[1][0]: c[1][1:] for c in fake.calls if c[0] == "set_shape"}
    assert shapes["eeg"] == ((1, 4, 14, 10), (1, 4, 14, 10), (8, 4, 14, 10))
    assert shapes["ecg"] == ((1, 1, 32), (1, 1, 32), (8, 1, 32))
    pool = next(c[1] for c in fake.calls if c[0] == "set_memory_pool_limit")
    assert int(pool[0]) == 0 and pool[1] == T.DEFAULT_WORKSPACE_BYTES


def test_parser_errors_are_reported(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(RuntimeError, match=r"TensorRT could not parse .*INVALID_GRAPH"):
        T.build_serialized_plan(bad, SHAPES, trt=make_fake_tensorrt())


def test_input_shapes_must_name_the_graph_inputs():
    with pytest.raises(ValueError, match="do not match ONNX inputs"):
        T.build_serialized_plan(_int8_path(), {"eeg": (4, 14, 10)}, trt=make_fake_tensorrt())
    with pytest.raises(ValueError, match="opt_batch"):
        T.build_serialized_plan(_int8_path(), SHAPES, max_batch=2, opt_batch=4)


def test_plan_cache_keyed_by_device_capability_version_and_onnx(tmp_path):
    fake = make_fake_tensorrt("10.3.0")
    dev = FakeDeviceMemory("NVIDIA Jetson AGX Orin", (8, 7))
    p1 = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=fake, device=dev)
    assert p1.built and p1.path.name.startswith(
        "model.int8.nvidia-jetson-agx-orin.sm87.trt10.3.0.b16."
    )
    n_builds = _names(fake).count("build_serialized_network")
    p2 = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=fake, device=dev)
    assert p2.path == p1.path and p2.plan == p1.plan and not p2.built  # cache hit
    assert _names(fake).count("build_serialized_network") == n_builds
    other = FakeDeviceMemory("NVIDIA Jetson Orin Nano", (8, 7))
    p3 = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=fake, device=other)
    newer = make_fake_tensorrt("10.7.0")
    p4 = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=newer, device=dev)
    assert len({p1.path, p3.path, p4.path}) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_cached_plan_is_checksummed_and_rebuilt_when_it_does_not_match(tmp_path):
    """A plan in trt_cache is deserialized only if it matches the sha256 stored beside it:
    a tampered, truncated or checksum-less plan is rebuilt from the verified ONNX."""
    fake = make_fake_tensorrt()
    dev = FakeDeviceMemory()
    first = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=fake, device=dev)
    checksum = T.plan_checksum_path(first.path)
    assert checksum.read_text().strip() == hashlib.sha256(first.plan).hexdigest()

    def builds():
        return _names(fake).count("build_serialized_network")

    for tamper in (
        lambda: first.path.write_bytes(first.plan.replace(b"logits", b"hacked")),
        lambda: first.path.write_bytes(first.plan[:40]),
        lambda: checksum.unlink(),
    ):
        tamper()
        n = builds()
        again = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, trt=fake, device=dev)
        assert again.built and builds() == n + 1
        assert again.plan == first.plan and first.path.read_bytes() == first.plan
        assert checksum.read_text().strip() == hashlib.sha256(first.plan).hexdigest()


def test_runner_call_order_and_results():
    fake = make_fake_tensorrt()
    plan = T.build_serialized_plan(_int8_path(), SHAPES, max_batch=16, trt=fake)
    dev = FakeDeviceMemory()
    runner = T.TrtRunner(plan, trt=fake, device=dev)
    assert runner.inputs == ["eeg", "ecg"] and runner.outputs == ["logits"]
    fake.calls.clear()
    rng = np.random.default_rng(0)
    feeds = {"eeg": rng.normal(size=(5, 4, 14, 10)), "ecg": rng.normal(size=(5, 1, 32))}
    out = runner.run(feeds)["logits"]
    names = _names(fake)
    assert names.index("set_input_shape") < names.index("get_tensor_shape")
    assert names[-1] == "execute_async_v3"
    assert {c[1][0] for c in fake.calls if c[0] == "set_tensor_address"} == {
        "eeg",
        "ecg",
        "logits",
    }
    sess = ort.InferenceSession(str(_int8_path()), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})[0]
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert dev.synchronized == 1
    runner.close()
    assert len(dev.freed) == 3


def test_runner_rejects_batch_outside_profile_and_missing_inputs():
    fake = make_fake_tensorrt()
    plan = T.build_serialized_plan(_int8_path(), SHAPES, max_batch=4, trt=fake)
    runner = T.TrtRunner(plan, trt=fake, device=FakeDeviceMemory())
    with pytest.raises(ValueError, match="outside the profile"):
        runner.run({"eeg": np.zeros((5, 4, 14, 10)), "ecg": np.zeros((5, 1, 32))})
    with pytest.raises(ValueError, match="missing TensorRT inputs"):
        runner.run({"eeg": np.zeros((1, 4, 14, 10))})


def test_stale_plan_gives_clear_error():
    with pytest.raises(RuntimeError, match=r"delete the cached \.plan"):
        T.TrtRunner(b"garbage", trt=make_fake_tensorrt(), device=FakeDeviceMemory())


def test_fake_catches_weakly_typed_network():
    """The fake itself must fail code that forgets the strongly typed flag (TensorRT 10)."""
    fake = make_fake_tensorrt()
    with pytest.raises(FakeTrtError, match="STRONGLY_TYPED"):
        fake.Builder(fake.Logger()).create_network(0)


def test_tensorrt_unavailable_here_says_why(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    ok, why = T.tensorrt_available()
    assert not ok and "tensorrt is not importable" in why


def _real_tensorrt_or_skip():
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:
        pytest.skip(f"tensorrt not importable here ({exc}); it comes with JetPack on a Jetson")
    ok, why = T.tensorrt_available()
    if not ok:
        pytest.skip(why)


def test_real_tensorrt_int8_engine_matches_onnxruntime(tmp_path):
    _real_tensorrt_or_skip()
    cached = T.build_or_load_plan(_int8_path(), SHAPES, tmp_path, max_batch=8)
    runner = T.TrtRunner(cached.plan)
    rng = np.random.default_rng(0)
    feeds = {
        "eeg": rng.normal(size=(3, 4, 14, 10)).astype(np.float32),
        "ecg": rng.normal(size=(3, 1, 32)).astype(np.float32),
    }
    out = runner.run(feeds)["logits"]
    fp32 = ort.InferenceSession(
        str(exported_bundle() / "model.onnx"), providers=["CPUExecutionProvider"]
    ).run(None, feeds)[0]
    # int8 kernels on the GPU vs fp32 on the CPU: close, not equal
    assert out.shape == (3, 2) and np.max(np.abs(out - fp32)) < 0.1


def test_no_cuda_memory_backend_names_both_attempts(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cuda", None)
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present; this checks the no-GPU message")
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match=r"TorchCudaMemory: .*CudaPythonMemory: "):
        T.default_device()
