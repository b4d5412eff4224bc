"""``python -m edge_emotion.export``: bundle contents, dynamic batch, Q/DQ rules, parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_helpers import exported_bundle, write_checkpoint

from edge_emotion.bundle import load_bundle
from edge_emotion.export.__main__ import main
from edge_emotion.export.data import FeatureSet, load_npz_features, split_features
from edge_emotion.export.onnx_export import check_dynamic_batch, graph_io
from edge_emotion.export.parity import compare_decisions
from edge_emotion.export.quantize import FeedsCalibrationReader, check_qdq


def test_onnx_has_symbolic_batch_and_runs_at_any_batch():
    path = exported_bundle() / "model.onnx"
    io_ = graph_io(path)
    assert io_["inputs"] == [("eeg", ["batch", 4, 14, 10]), ("ecg", ["batch", 1, 32])]
    assert io_["outputs"][0][0] == "logits" and io_["outputs"][0][1][0] == "batch"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in (1, 3, 33):
        out = sess.run(None, {"eeg": np.zeros((b, 4, 14, 10), np.float32),
                              "ecg": np.zeros((b, 1, 32), np.float32)})[0]  # fmt: skip
        assert out.shape == (b, 2)


def test_check_dynamic_batch_rejects_fixed_batch(tmp_path):
    model = onnx.load(str(exported_bundle() / "model.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # bake batch 1 in
    bad = tmp_path / "fixed.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ValueError, match="'eeg' has shape \\[1, 4, 14, 10\\]"):
        check_dynamic_batch(bad)


def test_int8_graph_is_tensorrt_ready_qdq():
    summary = check_qdq(exported_bundle() / "model.int8.onnx")
    assert summary.n_quantize > 0 and summary.n_dequantize > summary.n_quantize
    assert summary.quantized_ops["Conv"] > 0 and summary.quantized_ops["Gemm"] > 0
    assert summary.n_weights_per_channel > 0
    # Independent of check_qdq: every zero-point initializer is int8 zero.
    m = onnx.load(str(exported_bundle() / "model.int8.onnx"))
    zps = [onnx.numpy_helper.to_array(t) for t in m.graph.initializer if "zero_point" in t.name]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)


def test_check_qdq_rejects_asymmetric_quantisation(tmp_path):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(0)
    reader = FeedsCalibrationReader(
        {"eeg": rng.normal(2.0, 1.0, (16, 4, 14, 10)), "ecg": rng.normal(2.0, 1.0, (16, 1, 32))}
    )
    out = tmp_path / "asym.onnx"
    quantize_static(
        str(exported_bundle() / "model.onnx"), str(out), reader,
        quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8, per_channel=True,
    )  # fmt: skip
    with pytest.raises(ValueError, match="zero-point"):
        check_qdq(out)


def test_calibration_reader_batches_and_validates():
    r = FeedsCalibrationReader(
        {"eeg": np.zeros((5, 4, 14, 10)), "ecg": np.zeros((5, 1, 32))}, batch_size=2
    )
    sizes = []
    while (batch := r.get_next()) is not None:
        sizes.append(len(batch["eeg"]))
        assert batch["eeg"].dtype == np.float32
    assert sizes == [2, 2, 1]
    r.rewind()
    assert r.get_next() is not None
    with pytest.raises(ValueError, match="same N"):
        FeedsCalibrationReader({"eeg": np.zeros((5, 4, 14, 10)), "ecg": np.zeros((4, 1, 32))})
    with pytest.raises(ValueError, match="NaN"):
        FeedsCalibrationReader(
            {"eeg": np.full((1, 4, 14, 10), np.nan), "ecg": np.zeros((1, 1, 32))}
        )


def test_compare_decisions_counts_agreement_and_accuracy():
    ref = np.array([[2.0, -1.0], [-2.0, 1.0], [0.1, 0.0], [-3.0, 3.0]])
    new = np.array([[1.5, -1.0], [-2.0, 1.0], [-0.1, 0.0], [-3.0, -3.0]])
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 1]])
    thresholds = {"arousal": 0.5, "valence": 0.5}
    r = compare_decisions(ref, new, ("arousal", "valence"), thresholds, labels)
    assert r["decision_agreement"] == {"arousal": 0.75, "valence": 0.75}
    assert r["decision_agreement_all_targets"] == 0.5
    assert not r["meets_goal"]
    assert r["accuracy_reference"] == {"arousal": 1.0, "valence": 1.0}
    assert r["accuracy_change"] == {"arousal": -0.25, "valence": -0.25}


def test_parity_report_and_manifest_agree():
    b = exported_bundle()
    report = json.loads((b / "parity.json").read_text())
    manifest = json.loads((b / "manifest.json").read_text())
    assert report["onnx_vs_torch"]["heldout_max_abs_diff"] < 1e-4
    assert set(report["onnx_vs_torch"]["max_abs_diff_by_batch"]) == {"1", "2", "7"}
    assert (
        manifest["parity"]["int8_decision_agreement"]
        == report["int8_vs_fp32"]["decision_agreement"]
    )
    assert "fp16_vs_fp32" in report
    md = (b / "parity.md").read_text()
    assert "INT8 (Q/DQ) vs fp32" in md and "Demo bundle" in md
    assert manifest["onnx"]["opset"] == 18
    assert manifest["quantization"]["format"] == "QDQ"
    assert report["qdq"]["preprocessed"] is True  # quant_pre_process ran, no silent fallback


def test_cli_with_labelled_features(tmp_path, capsys):
    """End to end through main(): an NPZ of labelled features gives accuracy change."""
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", seed=1, synthetic=False)
    rng = np.random.default_rng(0)
    n = 96
    eeg = rng.normal(1.0, 0.5, (n, 4, 14, 10))
    ecg = rng.uniform(0.6, 1.0, (n, 1, 32))
    labels = rng.integers(0, 2, (n, 2))
    split = np.where(np.arange(n) < 48, "calib", "test")
    np.savez(tmp_path / "f.npz", eeg=eeg, ecg=ecg, labels=labels, split=split)
    out = tmp_path / "bundle"
    rc = main([str(ckpt), "--out", str(out), "--features", str(tmp_path / "f.npz"),
               "--no-torch-state", "--name", "cli-test"])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "INT8 accuracy change" in printed and f"wrote {out / 'manifest.json'}" in printed
    b = load_bundle(out)
    assert not b.is_demo and b.manifest["name"] == "cli-test"
    assert set(b.manifest["files"]) == {
        "model.onnx", "model.int8.onnx", "parity.json", "parity.md"
    }  # fmt: skip
    rep = json.loads((out / "parity.json").read_text())
    assert rep["data"]["calibration"]["n"] == 48 and rep["data"]["heldout"]["labelled"]
    assert set(rep["int8_vs_fp32"]["accuracy_change"]) == {"arousal", "valence"}


def test_cli_bad_inputs_exit_1_with_message(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pt"), "--out", str(tmp_path / "b")]) == 1
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main([str(junk), "--out", str(tmp_path / "b")]) == 1
    assert "cannot be read as a weights-only torch file" in capsys.readouterr().err
    import torch

    # A pickle that would run code when unpickled is refused, and the code does not run.
    marker = tmp_path / "pwned"

    class _RunsCode:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"format": "edge_emotion.checkpoint/1", "x": _RunsCode()}, tmp_path / "evil.pt")
    assert main([str(tmp_path / "evil.pt"), "--out", str(tmp_path / "b")]) == 1
    assert "never unpickles" in capsys.readouterr().err
    assert not marker.exists()

    torch.save({"format": "something/else"}, tmp_path / "other.pt")
    assert main([str(tmp_path / "other.pt"), "--out", str(tmp_path / "b")]) == 1
    assert "expected 'edge_emotion.checkpoint/1'" in capsys.readouterr().err


def test_cli_refuses_to_overwrite_a_non_bundle_folder(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main([str(ckpt), "--out", str(out), "--n-calibration", "8", "--n-heldout", "8"]) == 1
    assert "refusing" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_npz_features_validation(tmp_path):
    np.savez(tmp_path / "a.npz", eeg=np.zeros((4, 4, 14, 10)))
    with pytest.raises(ValueError, match="lacks arrays \\['ecg'\\]"):
        load_npz_features(tmp_path / "a.npz")
    with pytest.raises(ValueError, match="labels must be"):
        FeatureSet(np.zeros((4, 4, 14, 10)), np.zeros((4, 32)), np.full((4, 2), 3), "x")
    full = FeatureSet(np.zeros((10, 4, 14, 10)), np.zeros((10, 32)), None, "x")
    cal, held = split_features(full)
    assert len(cal) + len(held) == 10 and cal.ecg.shape == (5, 1, 32)


def test_calibration_method_is_validated_and_recorded(tmp_path):
    from edge_emotion.export.quantize import quantize_int8

    rng = np.random.default_rng(0)
    reader = FeedsCalibrationReader(
        {"eeg": rng.normal(size=(8, 4, 14, 10)), "ecg": rng.normal(size=(8, 1, 32))}
    )
    src = exported_bundle() / "model.onnx"
    with pytest.raises(ValueError, match="method must be one of"):
        quantize_int8(src, tmp_path / "x.onnx", reader, method="kl")
    s = quantize_int8(src, tmp_path / "mm.onnx", reader, method="minmax")
    assert s.calibration == "minmax" and s.preprocessed is True
    manifest = json.loads((exported_bundle() / "manifest.json").read_text())
    assert manifest["quantization"]["calibration_method"] == "percentile 99.99"
