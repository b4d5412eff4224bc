"""Bundles a careless or hostile user could hand the device: every one is refused with a
:class:`BundleError` (or, for an optional model file, skipped with the reason), before
anything is allocated from it or run, and never with a traceback from a library."""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from export_helpers import copy_bundle, edit_manifest, exported_bundle, rehash_file
from fake_tensorrt import FakeDeviceMemory, make_fake_tensorrt

from edge_emotion.bundle import MAX_MANIFEST_BYTES, BundleError, load_bundle
from edge_emotion.engines import EngineUnavailable, create_engine
from edge_emotion.engines import tensorrt as trt_support
from edge_emotion.kernels.config import FeatureConfig


def _problems(path: Path) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    return str(info.value)


def _set_feature_config(m: dict, **changes) -> None:
    """Edit the feature config *and* everything that must agree with it, digest included:
    only the size limits stand between such a manifest and the device's memory."""
    fc = {**m["feature_config"], **changes}
    m["feature_config"] = fc
    window_s = fc["window_s"]
    n_sub = round(window_s / fc["subwindow_s"])
    m["inputs"][0]["shape"] = ["batch", len(fc["bands"]), len(fc["eeg_channels"]), n_sub]
    m["inputs"][1]["shape"] = ["batch", 1, fc["hrv_length"]]
    m["feature_config_digest"] = hashlib.sha256(
        json.dumps(fc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"window_s": 1e9}, "at most 1048576"),
        ({"window_s": 10000.0, "hop_s": 1.0}, "at most 1048576"),
        ({"hrv_length": 10**6}, "hrv_length must be between 2 and 4096"),
        ({"eeg_channels": [f"E{i}" for i in range(300)]}, "at most 256"),
        ({"bands": [[f"b{i}", 1.0 + i, 1.5 + i] for i in range(40)]}, "at most 16 bands"),
        (
            {"window_s": 1000.0, "eeg_channels": [f"E{i}" for i in range(64)]},
            "too large for the device",
        ),
    ],
)
def test_absurd_sizes_are_refused_before_anything_is_allocated(tmp_path, changes, expected):
    b = copy_bundle(tmp_path)

    def edit(m):
        _set_feature_config(m, **changes)
        if "eeg_channels" in changes:
            m["channels"] = [{"name": c, "role": "eeg"} for c in changes["eeg_channels"]] + [
                {"name": "ECG", "role": "ecg"}
            ]

    edit_manifest(b, edit)
    msg = _problems(b)
    assert "feature_config is invalid" in msg and expected in msg


def test_the_size_limits_leave_the_configs_we_use():
    FeatureConfig()  # the MAAN default
    FeatureConfig(eeg_fs=1000.0, ecg_fs=1000.0, eeg_channels=[f"E{i}" for i in range(64)])
    FeatureConfig(eeg_fs=512.0, window_s=30.0, hop_s=0.5, eeg_channels=[f"E{i}" for i in range(32)])


def test_a_bundle_without_the_feature_config_digest_is_refused(tmp_path):
    """eeg_fs edited to 256 with the digest removed would run a 128 Hz model at 256 Hz."""
    b = copy_bundle(tmp_path)

    def edit(m):
        m["feature_config"]["eeg_fs"] = 256.0
        del m["feature_config_digest"]

    edit_manifest(b, edit)
    assert "feature_config_digest is missing" in _problems(b)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("eeg_std", 1e-300, "normalization.eeg_std must lie in [1e-06, 1e+06]"),
        ("eeg_std", 1e300, "normalization.eeg_std must lie in [1e-06, 1e+06]"),
        ("ecg_std", 1e-300, "normalization.ecg_std must lie in [1e-06, 1e+06]"),
        ("ecg_mean", 1e308, "normalization.ecg_mean must lie within +-1e+06"),
        ("eeg_mean", -1e200, "normalization.eeg_mean must lie within +-1e+06"),
    ],
)
def test_normalisation_that_would_feed_the_model_inf_is_refused(tmp_path, field, value, expected):
    b = copy_bundle(tmp_path)

    def edit(m):
        norm = m["normalization"]
        if field.startswith("eeg"):
            arr = np.asarray(norm[field], dtype=float)
            arr.flat[5] = value
            norm[field] = arr.tolist()
        else:
            norm[field] = value

    edit_manifest(b, edit)
    assert expected in _problems(b)


def test_a_deeply_nested_or_huge_manifest_is_a_bundle_error(tmp_path):
    (tmp_path / "manifest.json").write_text("[" * 200_000)
    assert "nested too deeply" in _problems(tmp_path)
    with open(tmp_path / "manifest.json", "w") as f:
        f.write('{"pad": "' + "x" * MAX_MANIFEST_BYTES + '"}')
    assert "larger than 4 MiB" in _problems(tmp_path)


def test_a_file_swapped_after_load_is_refused_at_the_point_of_use(tmp_path, monkeypatch):
    """load_bundle, then model.onnx replaced: the engine hashes the bytes it is handed."""
    b = copy_bundle(tmp_path)
    bundle = load_bundle(b)
    (b / "model.onnx").write_bytes((b / "model.fp16.onnx").read_bytes())  # valid, other model
    state = bytearray((b / "model.pt").read_bytes())
    state[-1] ^= 0xFF
    (b / "model.pt").write_bytes(bytes(state))
    (b / "model.int8.onnx").write_bytes(b"")
    for backend in ("onnxruntime-fp32", "onnxruntime", "torch"):
        with pytest.raises(BundleError, match="changed after the bundle was loaded"):
            create_engine(bundle, backend)
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_tensorrt())
    monkeypatch.setattr(trt_support, "default_device", lambda: FakeDeviceMemory())
    with pytest.raises(BundleError, match=r"model\.int8\.onnx changed after"):
        create_engine(bundle, "tensorrt", trt_cache_dir=tmp_path / "cache")
    # "auto" must not fall back past tampering either
    with pytest.raises(BundleError):
        create_engine(bundle, "auto", trt_cache_dir=tmp_path / "cache")


def test_a_checksum_valid_int8_file_that_is_not_onnx_falls_back_to_fp32_and_says_so(tmp_path):
    b = copy_bundle(tmp_path)
    (b / "model.int8.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    rehash_file(b, "model.int8.onnx")
    bundle = load_bundle(b)
    with pytest.raises(EngineUnavailable, match=r"onnxruntime cannot load model.int8.onnx"):
        create_engine(bundle, "onnxruntime")
    engine = create_engine(bundle, "auto")
    assert engine.name == "onnxruntime-fp32"
    assert any("onnxruntime: onnxruntime cannot load model.int8.onnx" in r for r in engine.fallback)


def test_tensorrt_refusing_the_graph_is_a_fallback_not_a_crash(tmp_path, monkeypatch):
    b = copy_bundle(tmp_path)
    (b / "model.int8.onnx").write_bytes(b"not onnx")
    rehash_file(b, "model.int8.onnx")
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_tensorrt())
    monkeypatch.setattr(trt_support, "default_device", lambda: FakeDeviceMemory())
    engine = create_engine(load_bundle(b), "auto", trt_cache_dir=tmp_path / "cache")
    assert engine.name == "onnxruntime-fp32"
    assert "TensorRT cannot build or load model.int8.onnx" in engine.fallback[0]


class _Evil:
    def __reduce__(self):
        return (print, ("this ran",))


def test_the_torch_backend_refuses_a_pickle_with_a_bundle_error(tmp_path, capsys):
    import torch

    b = copy_bundle(tmp_path)
    torch.save({"weight": _Evil()}, b / "model.pt")
    rehash_file(b, "model.pt")
    with pytest.raises(BundleError, match=r"model\.pt is not a weights-only state dict"):
        create_engine(load_bundle(b), "torch")
    assert "this ran" not in capsys.readouterr().out

    (b / "model.pt").write_bytes(pickle.dumps({"weight": 1}, protocol=2))  # not a torch zip
    rehash_file(b, "model.pt")
    with pytest.raises(BundleError, match="never unpickles objects"):
        create_engine(load_bundle(b), "torch")


def test_the_torch_backend_refuses_a_model_config_larger_than_its_weights(tmp_path):
    """The manifest's model config sizes the torch model; it is checked on the meta device
    against the verified state dict before a single parameter is allocated."""
    b = copy_bundle(tmp_path)
    edit_manifest(b, lambda m: m["model"]["config"].update(hidden=1 << 20))
    with pytest.raises(BundleError, match="do not belong together"):
        create_engine(load_bundle(b), "torch")


def test_exported_bundle_still_loads_and_runs_everywhere():
    bundle = load_bundle(exported_bundle())
    for backend in ("onnxruntime-fp32", "onnxruntime", "torch"):
        p = create_engine(bundle, backend).predict(np.zeros((1, 4, 14, 10)), np.zeros((1, 1, 32)))
        assert p.shape == (1, 2) and np.all(np.isfinite(p))
