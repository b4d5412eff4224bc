"""Engines over a bundle: onnxruntime INT8/fp32, torch, TensorRT (fake module), auto."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from export_helpers import copy_bundle, exported_bundle
from fake_tensorrt import FakeDeviceMemory, make_fake_tensorrt

from edge_emotion.bundle import load_bundle
from edge_emotion.engines import (
    BACKENDS,
    EngineUnavailable,
    OnnxRuntimeEngine,
    auto,
    create_engine,
)
from edge_emotion.engines import tensorrt as trt_support


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(exported_bundle())


@pytest.fixture(scope="module")
def features(bundle):
    rng = np.random.default_rng(7)
    n = bundle.normalization
    eeg = n.eeg_mean[None, :, :, None] + n.eeg_std[None, :, :, None] * rng.normal(
        size=(9, 4, 14, 10)
    )
    ecg = n.ecg_mean + n.ecg_std * rng.normal(size=(9, 1, 32))
    return eeg, ecg


def _manual_fp32(bundle, eeg, ecg):
    """The fp32 graph run by hand on hand-normalised inputs, then sigmoid."""
    n = bundle.manifest["normalization"]
    e = (eeg - np.array(n["eeg_mean"])[None, :, :, None]) / np.array(n["eeg_std"])[None, :, :, None]
    c = (ecg - n["ecg_mean"]) / n["ecg_std"]
    sess = ort.InferenceSession(str(bundle.path / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"eeg": e.astype(np.float32), "ecg": c.astype(np.float32)})[0]
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def test_fp32_engine_normalises_and_applies_sigmoid(bundle, features):
    eeg, ecg = features
    p = create_engine(bundle, "onnxruntime-fp32").predict(eeg, ecg)
    assert p.shape == (9, 2) and p.dtype == np.float32
    np.testing.assert_allclose(p, _manual_fp32(bundle, eeg, ecg), atol=1e-6)


def test_torch_engine_matches_fp32(bundle, features):
    eeg, ecg = features
    p_torch = create_engine(bundle, "torch").predict(eeg, ecg)
    p_fp32 = create_engine(bundle, "onnxruntime-fp32").predict(eeg, ecg)
    np.testing.assert_allclose(p_torch, p_fp32, atol=1e-5)


def test_int8_engine_close_to_fp32(bundle, features):
    eeg, ecg = features
    eng = create_engine(bundle, "onnxruntime")
    assert eng.name == "onnxruntime" and eng.precision == "int8"
    p8 = eng.predict(eeg, ecg)
    p32 = create_engine(bundle, "onnxruntime-fp32").predict(eeg, ecg)
    assert np.max(np.abs(p8 - p32)) < 0.02
    assert not np.array_equal(p8, p32)  # it really is a different (quantised) graph


def test_fp16_engine(bundle, features):
    eeg, ecg = features
    p16 = OnnxRuntimeEngine(bundle, precision="fp16").predict(eeg, ecg)
    p32 = create_engine(bundle, "onnxruntime-fp32").predict(eeg, ecg)
    assert np.max(np.abs(p16 - p32)) < 5e-3


def test_single_window_without_batch_axis(bundle, features):
    eeg, ecg = features
    eng = create_engine(bundle, "onnxruntime-fp32")
    one = eng.predict(eeg[3], ecg[3, 0])
    np.testing.assert_allclose(one, eng.predict(eeg[3:4], ecg[3:4]), atol=1e-7)


@pytest.mark.parametrize(
    ("eeg_shape", "ecg_shape", "message"),
    [
        ((2, 4, 14, 9), (2, 1, 32), "eeg must have shape (batch, 4, 14, 10)"),
        ((2, 4, 14, 10), (2, 1, 31), "ecg must have shape (batch, 1, 32)"),
        ((2, 4, 14, 10), (3, 1, 32), "batch sizes differ"),
    ],
)
def test_bad_shapes_rejected(bundle, eeg_shape, ecg_shape, message):
    eng = create_engine(bundle, "onnxruntime-fp32")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        eng.predict(np.zeros(eeg_shape), np.zeros(ecg_shape))


def test_nan_rejected(bundle, features):
    eeg, ecg = features
    bad = eeg.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        create_engine(bundle, "onnxruntime").predict(bad, ecg)


def test_unknown_backend(bundle):
    with pytest.raises(ValueError, match="backend must be one of"):
        create_engine(bundle, "tflite")


def test_auto_falls_back_and_says_why(bundle, monkeypatch):
    monkeypatch.setattr(
        trt_support, "tensorrt_available", lambda: (False, "tensorrt is not importable (test)")
    )
    # INT8 timed faster (fake timings: the rule, not this machine's clock)
    monkeypatch.setattr(
        auto, "median_call_ms", lambda engines: {"onnxruntime": 0.2, "onnxruntime-fp32": 0.4}
    )
    monkeypatch.setattr(auto, "int8_refusal", lambda bundle: None)
    eng = create_engine(bundle, "auto")
    assert eng.name == "onnxruntime"
    assert eng.fallback == ["tensorrt: tensorrt is not importable (test)"]
    assert eng.selection.startswith("auto: INT8 is the faster")


def test_auto_skips_missing_int8_file(tmp_path, monkeypatch):
    import json

    b = copy_bundle(tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    del m["files"]["model.int8.onnx"]
    (b / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setattr(trt_support, "tensorrt_available", lambda: (False, "no tensorrt"))
    eng = create_engine(b, "auto")  # a path is accepted too
    assert eng.name == "onnxruntime-fp32"
    assert "has no onnx-int8 model" in eng.fallback[1]
    with pytest.raises(EngineUnavailable, match="onnx-int8"):
        create_engine(b, "onnxruntime")


def test_backends_constant_matches_contract():
    assert BACKENDS == ("auto", "tensorrt", "onnxruntime", "onnxruntime-fp32", "torch")


def test_tensorrt_engine_with_fake_module(bundle, features, tmp_path, monkeypatch):
    """The TensorRT path end to end against the fake module (executes the ONNX with ORT)."""
    fake = make_fake_tensorrt("10.3.0")
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", fake)
    monkeypatch.setattr(trt_support, "default_device", lambda: FakeDeviceMemory())
    eeg, ecg = features
    eng = create_engine(bundle, "auto", trt_cache_dir=tmp_path)
    assert eng.name == "tensorrt" and eng.fallback == []
    p_trt = eng.predict(eeg, ecg)
    p_int8 = create_engine(bundle, "onnxruntime").predict(eeg, ecg)
    np.testing.assert_allclose(p_trt, p_int8, atol=1e-6)
    assert eng.plan_path.parent == tmp_path
    assert "sm87" in eng.plan_path.name and "trt10.3.0" in eng.plan_path.name
    # batch 1 after batch 9 reuses the buffers and still gives the same answer
    np.testing.assert_allclose(eng.predict(eeg[:1], ecg[:1]), p_int8[:1], atol=1e-6)


def test_plan_cache_falls_back_to_home_for_read_only_bundle(tmp_path, monkeypatch):
    import os

    from edge_emotion.engines import default_plan_cache

    b = load_bundle(copy_bundle(tmp_path))
    assert default_plan_cache(b) == b.path / "trt_cache"
    if os.geteuid() == 0:
        # root ignores file modes: make the probe fail the way a read-only mount would
        def refuse(self, *a, **k):
            raise PermissionError("read-only")

        monkeypatch.setattr(type(b.path), "write_bytes", refuse)
    else:
        (b.path / "trt_cache").chmod(0o500)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache = default_plan_cache(b)
    assert cache.parent == tmp_path / "home" / ".cache" / "edge_emotion" / "trt"


def test_demo_bundle_engines_agree():
    """In-distribution windows (the demo's own statistics); INT8 clips far outside them."""
    from edge_emotion.bundle import DEMO_BUNDLE_PATH

    demo = load_bundle(DEMO_BUNDLE_PATH)
    n, rng = demo.normalization, np.random.default_rng(11)
    eeg = n.eeg_mean[None, :, :, None] + 0.5 * n.eeg_std[None, :, :, None] * rng.normal(
        size=(16, 4, 14, 10)
    )
    ecg = n.ecg_mean + 0.5 * n.ecg_std * rng.normal(size=(16, 1, 32))
    p32 = create_engine(demo, "onnxruntime-fp32").predict(eeg, ecg)
    p8 = create_engine(demo, "onnxruntime").predict(eeg, ecg)
    pt = create_engine(demo, "torch").predict(eeg, ecg)
    np.testing.assert_allclose(pt, p32, atol=1e-5)
    # Gaussian draws are off the feature manifold (real HRV series are zero-embedded), so
    # INT8 clipping shows more than on real windows (parity.json: max |dP| ~0.1 there).
    assert np.mean(np.abs(p8 - p32)) < 0.1 and np.max(np.abs(p8 - p32)) < 0.3


def test_tensorrt_fp16_graph_with_fake_module(bundle, features, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", make_fake_tensorrt(trt11=True))
    monkeypatch.setattr(trt_support, "default_device", lambda: FakeDeviceMemory())
    eeg, ecg = features
    eng = create_engine(bundle, "tensorrt", trt_cache_dir=tmp_path, trt_precision="fp16")
    assert eng.name == "tensorrt-fp16" and eng.plan_path.name.startswith("model.fp16.")
    p16 = OnnxRuntimeEngine(bundle, precision="fp16").predict(eeg, ecg)
    np.testing.assert_allclose(eng.predict(eeg, ecg), p16, atol=1e-6)
    with pytest.raises(ValueError, match="trt_precision"):
        create_engine(bundle, "tensorrt", trt_precision="int4")


def test_torch_backend_finds_the_model_builder_by_entry_point():
    from edge_emotion.engines.torch_engine import find_model_builder
    from edge_emotion.training.models.maan import build_model

    assert find_model_builder("maan") is build_model
    assert find_model_builder("base") is build_model


def test_torch_backend_without_a_registered_builder_says_what_to_install(bundle, monkeypatch):
    from edge_emotion.engines import torch_engine

    monkeypatch.setattr(torch_engine, "entry_points", lambda group: [])
    with pytest.raises(EngineUnavailable, match=r"no model builder for model 'maan'.*\[train\]"):
        create_engine(bundle, "torch")
    eng = create_engine(bundle, "auto")  # auto passes over it to a backend that runs here
    assert eng.name != "torch"
