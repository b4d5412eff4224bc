"""Bundle loading and validation: every inconsistency is reported, by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from export_helpers import copy_bundle, exported_bundle

from edge_emotion.bundle import (
    DEMO_BUNDLE_PATH,
    ROLE_ONNX_FP32,
    ROLE_ONNX_INT8,
    SCHEMA,
    BundleError,
    load_bundle,
    sha256_file,
)
from edge_emotion.kernels.config import FeatureConfig


def _edit_manifest(bundle: Path, edit) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _problems(path: Path) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_load_exported_bundle_pins_everything():
    b = load_bundle(exported_bundle())
    assert b.feature_config == FeatureConfig()
    assert b.manifest["feature_config_digest"] == FeatureConfig().digest()
    assert b.targets == ("arousal", "valence")
    assert b.thresholds == {"arousal": 0.5, "valence": 0.45}
    assert b.normalization.eeg_mean.shape == (4, 14)
    assert b.normalization.ecg_std > 0
    assert b.manifest["schema"] == SCHEMA
    assert b.manifest["synthetic"] is True and b.is_demo
    assert [c["role"] for c in b.manifest["channels"]] == ["eeg"] * 14 + ["ecg"]
    assert b.manifest["inputs"][0]["shape"] == ["batch", 4, 14, 10]
    assert b.manifest["outputs"][0]["shape"] == ["batch", 2]
    assert set(b.manifest["versions"]["export"]) >= {"torch", "onnx", "onnxruntime", "numpy"}
    assert b.file_for_role(ROLE_ONNX_FP32).name == "model.onnx"
    assert b.file_for_role(ROLE_ONNX_INT8).name == "model.int8.onnx"
    for name, entry in b.manifest["files"].items():
        assert sha256_file(b.path / name) == entry["sha256"]
    probs = np.array([[0.5, 0.44], [0.49, 0.46]])
    assert b.decide(probs).tolist() == [[True, False], [False, True]]


def test_normalization_matches_manual_formula():
    b = load_bundle(exported_bundle())
    rng = np.random.default_rng(3)
    eeg, ecg = rng.normal(size=(2, 4, 14, 10)), rng.normal(size=(2, 1, 32))
    e, c = b.normalization.apply(eeg, ecg)
    n = b.manifest["normalization"]
    mean, std = np.array(n["eeg_mean"]), np.array(n["eeg_std"])
    np.testing.assert_allclose(e[1, 2, 3, 4], (eeg[1, 2, 3, 4] - mean[2, 3]) / std[2, 3], rtol=1e-6)
    np.testing.assert_allclose(c, (ecg - n["ecg_mean"]) / n["ecg_std"], rtol=1e-6)
    assert e.dtype == np.float32 and c.dtype == np.float32


def test_manifest_path_is_accepted(tmp_path):
    assert load_bundle(exported_bundle() / "manifest.json").path == exported_bundle().resolve()


def test_missing_directory_and_manifest(tmp_path):
    assert "is not a directory" in _problems(tmp_path / "nope")
    assert "manifest.json not found" in _problems(tmp_path)


def test_invalid_json(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    assert "not readable JSON" in _problems(tmp_path)


def test_wrong_schema_says_what_is_supported(tmp_path):
    b = copy_bundle(tmp_path)
    _edit_manifest(b, lambda m: m.update(schema="edge_emotion.bundle/99"))
    msg = _problems(b)
    assert "edge_emotion.bundle/99" in msg and SCHEMA in msg and "re-export" in msg


def test_missing_keys_listed_together(tmp_path):
    b = copy_bundle(tmp_path)
    _edit_manifest(b, lambda m: (m.pop("targets"), m.pop("normalization")))
    msg = _problems(b)
    assert "'targets'" in msg and "'normalization'" in msg


def test_checksum_mismatch_names_the_file(tmp_path):
    b = copy_bundle(tmp_path)
    data = bytearray((b / "model.int8.onnx").read_bytes())
    data[-1] ^= 0xFF
    (b / "model.int8.onnx").write_bytes(bytes(data))
    msg = _problems(b)
    assert "model.int8.onnx: sha256 mismatch" in msg
    assert "model.onnx:" not in msg  # only the changed file is blamed


def test_missing_file_and_path_outside_bundle(tmp_path):
    b = copy_bundle(tmp_path)
    (b / "model.pt").unlink()

    def edit(m):
        m["files"]["../evil.onnx"] = {"role": "onnx-fp32", "sha256": "0" * 64}

    _edit_manifest(b, edit)
    msg = _problems(b)
    assert "model.pt is listed in the manifest but missing" in msg
    assert "'../evil.onnx' is not a plain file name" in msg


def test_shapes_must_match_feature_config(tmp_path):
    b = copy_bundle(tmp_path)

    def edit(m):
        m["feature_config"]["hrv_length"] = 48
        m.pop("feature_config_digest")

    _edit_manifest(b, edit)
    msg = _problems(b)
    assert "inputs['ecg'] shape ['batch', 1, 32]" in msg and "['batch', 1, 48]" in msg


def test_digest_detects_hand_edited_feature_config(tmp_path):
    b = copy_bundle(tmp_path)
    _edit_manifest(b, lambda m: m["feature_config"].update(hop_s=0.5))
    assert "feature_config_digest" in _problems(b)


def test_invalid_feature_config_reports_cause(tmp_path):
    b = copy_bundle(tmp_path)
    _edit_manifest(b, lambda m: m["feature_config"].update(eeg_fs=-1))
    assert "feature_config is invalid" in _problems(b)


def test_channels_thresholds_and_normalisation_checked(tmp_path):
    b = copy_bundle(tmp_path)

    def edit(m):
        m["channels"][0]["name"] = "Fp1"
        m["thresholds"]["valence"] = 1.5
        m["normalization"]["eeg_std"] = m["normalization"]["eeg_std"][:3]

    _edit_manifest(b, edit)
    msg = _problems(b)
    assert "EEG channels" in msg and "Fp1" in msg
    assert "thresholds['valence'] must be a probability in (0, 1), got 1.5" in msg
    assert "normalization.eeg_std has 42 values" in msg and "4 x 14" in msg


def test_non_positive_std_rejected(tmp_path):
    b = copy_bundle(tmp_path)
    _edit_manifest(b, lambda m: m["normalization"].update(ecg_std=0.0))
    assert "standard deviations must be > 0" in _problems(b)


def test_bundle_and_engines_import_without_torch_or_onnx():
    """The Jetson runtime imports bundle/engines (and loads a bundle) with neither installed."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'onnx', 'onnxscript'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from edge_emotion.bundle import load_bundle\n"
        "import edge_emotion.engines\n"
        f"b = load_bundle({str(exported_bundle())!r})\n"
        "print(b.targets)\n"
        "assert not any(m.split('.')[0] in ('torch', 'onnx') for m in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "arousal" in out.stdout


def test_demo_bundle_path_points_into_package():
    assert DEMO_BUNDLE_PATH.parent.name == "edge_emotion"
    assert DEMO_BUNDLE_PATH.name == "demo_bundle"


def test_shipped_demo_bundle_is_valid_small_and_labelled():
    b = load_bundle(DEMO_BUNDLE_PATH)
    assert b.manifest["demo"] is True and b.manifest["synthetic"] is True and b.is_demo
    assert b.manifest["dataset"]["synthetic"] is True
    total = sum(p.stat().st_size for p in DEMO_BUNDLE_PATH.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024
    assert b.manifest["parity"]["int8_meets_goal"] is True
    # no workstation paths leak into the shipped manifest
    assert "/" not in b.manifest["dataset"]["feature_cache"]
