"""EAV fusion checkpoint -> bundle through ``python -m edge_emotion.export`` (its main()).

One tiny, randomly initialised EAV fusion model (the real architecture at small widths,
built and saved with the EAV module's own functions) is exported once per module; the
tests check the manifest, onnxruntime against torch, the INT8 decision and that the
EEG+ECG runtime loader refuses the bundle with a clear message.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch

from edge_emotion.bundle import BundleError, load_bundle, sha256_file
from edge_emotion.export.__main__ import main
from edge_emotion.export.bundle_content import ExportOptions
from edge_emotion.export.data import EAVInputs, eav_inputs_from_folder, synthetic_inputs
from edge_emotion.export.eav_bundle import EavBundle, load_eav_bundle
from edge_emotion.export.parity import compare_classes
from edge_emotion.export.quantize import check_qdq
from edge_emotion.training.checkpoint import load_checkpoint, save_checkpoint
from edge_emotion.training.datasets.eav_layout import EMOTIONS
from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig, write_synthetic_eav
from edge_emotion.training.families import EAV_FUSION, load_model
from edge_emotion.training.models.eav_fusion import (
    EAVModelConfig,
    build_eav_model,
    model_config_for_data,
)
from edge_emotion.training.models.transformer import AudioConfig, EEGConfig, VideoConfig

# One participant, 10 trials of 6 s written by the EAV synthetic generator; loaded as 3-s
# windows of 50 Hz EEG, 16-mel audio with a 50-ms hop and 2 frames of 16 px.
SYN = SyntheticEAVConfig(n_subjects=1, n_trials=10, trial_s=6.0, frame_size=16)
DATA = SYN.loader_config(
    window_s=3.0, eeg_target_fs=50.0, eeg_band=(0.5, 24.0), n_mels=16, image_size=16
)
TINY = EAVModelConfig(
    fusion_dim=16,
    fusion_heads=2,
    tokens_per_modality=3,
    dropout=0.0,
    eeg=EEGConfig(filters=4, dim=16, depth=1, heads=2, pool=10, stride=5),
    audio=AudioConfig(patch=8, stride=8, dim=16, depth=1, heads=2),
    video=VideoConfig(patch=8, dim=16, depth=1, heads=2),
)


def _load(path):
    """(model, checkpoint) of a checkpoint file."""
    ckpt = load_checkpoint(path)
    return load_model(ckpt), ckpt


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(checkpoint path, bundle path, CLI output) of one export through main().

    The checkpoint records the synthetic folder as its dataset root, so the CLI calibrates
    and checks on its windows (labelled) without being told."""
    root = tmp_path_factory.mktemp("eav_export")
    data_root = write_synthetic_eav(root / "data", SYN)
    torch.manual_seed(0)
    cfg = model_config_for_data(DATA.shapes, TINY)
    model = build_eav_model(cfg).eval()
    dataset = {"name": "synthetic-eav", "synthetic": True, "root": str(data_root)}
    ckpt = EAV_FUSION.make_checkpoint(
        model,
        cfg,
        metrics={"accuracy": 0.2},
        dataset=dataset,
        data_config=DATA.to_dict(),
        classes=list(EMOTIONS),
    )
    save_checkpoint(ckpt, root / "eav.pt")
    out = root / "bundle"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main([str(root / "eav.pt"), "--out", str(out), "--name", "eav-test"])
    printed = buf.getvalue()
    assert rc == 0, printed
    return root / "eav.pt", out, printed


def test_cli_writes_a_valid_eav_bundle(exported):
    ckpt_path, out, printed = exported
    assert "EAV fusion checkpoint" in printed and f"wrote {out / 'manifest.json'}" in printed
    manifest = load_eav_bundle(out)
    assert manifest["kind"] == "eav-fusion" and manifest["name"] == "eav-test"
    assert manifest["classes"] == list(EMOTIONS)
    assert manifest["demo"] is True and manifest["synthetic"] is True
    assert manifest["preprocessing"] == json.loads(json.dumps(DATA.to_dict()))
    shapes = EAV_FUSION.input_shapes(_load(ckpt_path)[0].config)
    assert [i["name"] for i in manifest["inputs"]] == list(EAV_FUSION.input_names)
    for entry in manifest["inputs"]:
        assert entry["shape"] == ["batch", *shapes[entry["name"]]]
    assert manifest["inputs"][0]["shape"] == ["batch", 30, 150]
    assert manifest["inputs"][2]["shape"] == ["batch", 2, 3, 16, 16]
    assert manifest["dataset"]["root"] == "data"  # workstation paths are not shipped
    assert manifest["outputs"][0]["shape"] == ["batch", len(EMOTIONS)]
    assert manifest["model"]["checkpoint_format"] == "edge_emotion.eav_checkpoint/1"
    assert set(manifest["versions"]["export"]) >= {"torch", "onnx", "onnxruntime"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(out / name)
    assert {"model.onnx", "model.pt", "parity.json", "parity.md"} <= set(manifest["files"])


def test_onnxruntime_matches_torch(exported):
    import onnxruntime as ort

    ckpt_path, out, _ = exported
    model, _ = _load(ckpt_path)
    feeds = synthetic_inputs(EAV_FUSION.input_shapes(model.config), 5, seed=123)
    feeds["mask"][:3] = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]  # hidden modalities change logits
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], feeds)[0]  # batch 5; exported with 2: dynamic batch
    with torch.inference_mode():
        ref = model(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    with torch.inference_mode():
        full = model(*(torch.from_numpy(v[:1]) for v in feeds.values())).numpy()
    feeds1 = {k: v[:1].copy() for k, v in feeds.items()}
    feeds1["mask"][:] = 1.0
    with torch.inference_mode():
        unmasked = model(*(torch.from_numpy(v) for v in feeds1.values())).numpy()
    assert np.max(np.abs(full - unmasked)) > 1e-4  # the mask input is live in the graph
    report = json.loads((out / "parity.json").read_text())
    assert report["onnx_vs_torch"]["heldout_max_abs_diff"] < 1e-4
    assert set(report["onnx_vs_torch"]["max_abs_diff_by_batch"]) == {"1", "2", "7"}
    assert report["onnx_vs_torch"]["heldout_decision_agreement"] == 1.0


def test_int8_decision_is_recorded_consistently(exported):
    _, out, printed = exported
    report = json.loads((out / "parity.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    i8 = report["int8"]
    data = report["data"]
    # 5 speaking trials x 2 windows: trials alternate between calibration and held-out
    assert data["heldout"]["labelled"] and data["heldout"]["n"] == 4
    assert data["calibration"]["n"] == 6
    assert "EAV-layout folder data" in data["calibration"]["source"]
    assert "accuracy_change" in i8["vs_fp32"] and "accuracy" in printed
    assert manifest["quantization"]["shipped"] == i8["shipped"]
    assert manifest["parity"]["int8_shipped"] == i8["shipped"]
    md = (out / "parity.md").read_text()
    if i8["shipped"]:
        assert "model.int8.onnx" in manifest["files"] and "**Shipped**" in md
        assert i8["vs_fp32"]["decision_agreement"] >= 0.99
        summary = check_qdq(out / "model.int8.onnx")  # TensorRT's Q/DQ rules
        # only weighted nodes: every quantised MatMul has an int8 per-channel weight
        assert summary.n_weights_per_channel == sum(summary.quantized_ops.values())
        assert "INT8 shipped" in printed
    else:
        assert not (out / "model.int8.onnx").exists() and "**Not shipped**" in md
        assert i8["reason"] in md


def test_int8_failure_ships_fp32_only(exported, tmp_path, monkeypatch):
    import edge_emotion.export.eav_bundle as eav_bundle

    ckpt_path, out, _ = exported
    model, _ = _load(ckpt_path)
    shapes = EAV_FUSION.input_shapes(model.config)
    held = EAVInputs(synthetic_inputs(shapes, 8, seed=5), None, "synthetic")
    logits = np.zeros((8, len(EMOTIONS)), np.float32)

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel for op X")

    monkeypatch.setattr(eav_bundle, "quantize_int8", broken)
    dst = tmp_path / "model.int8.onnx"
    dst.write_bytes(b"stale")
    step = EavBundle(load_checkpoint(ckpt_path)).int8(
        out / "model.onnx", dst, held, held.feeds, held, held.feeds, logits, ExportOptions()
    )
    r = step.report["int8"]
    assert not step.shipped and r["shipped"] is False and "no kernel for op X" in r["reason"]
    assert step.quantization == {"shipped": False, "reason": r["reason"]}
    assert not dst.exists()


def test_jetson_loader_refuses_eav_bundle_clearly(exported):
    _, out, _ = exported
    with pytest.raises(BundleError, match="holds an EAV fusion model") as info:
        load_bundle(out)
    assert "the Jetson runtime classifies EEG+ECG bundles" in str(info.value)
    assert len(info.value.problems) == 1  # not a list of confusing schema complaints


def test_jetson_loader_names_unknown_kinds(exported, tmp_path):
    _, out, _ = exported
    copy = shutil.copytree(out, tmp_path / "b")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "kind": "eeg-only"}))
    with pytest.raises(BundleError, match="kind is 'eeg-only'; this edge_emotion knows eeg-ecg"):
        load_bundle(copy)


def test_eav_loader_detects_tampering_and_wrong_kind(exported, tmp_path):
    _, out, _ = exported
    copy = shutil.copytree(out, tmp_path / "b")
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 mismatch"):
        load_eav_bundle(copy)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["inputs"][3]["shape"] = ["batch", 2]
    del manifest["classes"][0]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "kind": "eav-fusion"}))
    with pytest.raises(BundleError) as info:
        load_eav_bundle(copy)
    text = str(info.value)
    assert "inputs['mask'] shape" in text and "outputs must be one tensor" in text
    (copy / "manifest.json").write_text(json.dumps({**manifest, "kind": "eeg-ecg"}))
    with pytest.raises(BundleError, match="not an EAV bundle"):
        load_eav_bundle(copy)


def test_compare_classes_counts_argmax_agreement():
    ref = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [0, 2.0, 0]])
    other = ref.copy()
    other[1] = [3.0, 0, 0]  # one of the two class-1 rows flips to class 0
    r = compare_classes(ref, other, ("a", "b", "c"), labels=np.array([0, 1, 2, 0]))
    assert r["decision_agreement"] == 0.75 and not r["meets_goal"]
    assert r["decision_agreement_by_reference_class"] == {"a": 1.0, "b": 0.5, "c": 1.0}
    assert r["reference_class_counts"] == {"a": 1, "b": 2, "c": 1}
    assert r["accuracy_reference"] == 0.75 and r["accuracy"] == 0.5
    assert r["accuracy_change"] == -0.25
    with pytest.raises(ValueError, match="logits must both have shape"):
        compare_classes(ref, ref[:, :2], ("a", "b", "c"))


def test_synthetic_inputs_match_the_loader_forms():
    shapes = {"eeg": (30, 40), "audio": (8, 12), "video": (2, 3, 4, 4), "mask": (3,)}
    x = synthetic_inputs(shapes, 200, seed=0)
    assert {k: v.shape[1:] for k, v in x.items()} == shapes
    present = x["mask"][:, 0] == 1
    np.testing.assert_allclose(x["eeg"][present].mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(x["eeg"][present].std(axis=-1), 1.0, atol=1e-4)
    assert np.all(x["eeg"][~present] == 0) and (~present).any()
    assert x["mask"].sum(axis=1).min() >= 2  # at most one modality hidden per row
    v = x["video"][x["mask"][:, 2] == 1]
    assert v.min() >= 0.0 and v.max() <= 1.0
    with pytest.raises(ValueError, match="n must be >= 1"):
        synthetic_inputs(shapes, 0, seed=0)


def test_synthetic_inputs_quantise_and_folder_split(exported, tmp_path):
    """The synthetic-input route (no dataset folder) through the same INT8 step, and the
    folder split: no trial on both sides."""

    ckpt_path, out, _ = exported
    model, ckpt = _load(ckpt_path)
    shapes = EAV_FUSION.input_shapes(model.config)
    cal = EAVInputs(synthetic_inputs(shapes, 16, seed=0), None, "synthetic")
    held = EAVInputs(synthetic_inputs(shapes, 32, seed=1), None, "synthetic")
    with torch.inference_mode():
        ref = model(*(torch.from_numpy(v) for v in held.feeds.values())).numpy()
    dst = tmp_path / "model.int8.onnx"
    step = EavBundle(ckpt).int8(
        out / "model.onnx", dst, cal, cal.feeds, held, held.feeds, ref, ExportOptions()
    )
    r = step.report["int8"]
    assert "accuracy" not in r["vs_fp32"]  # unlabelled
    assert r["shipped"] == dst.exists() == (r["vs_fp32"]["decision_agreement"] >= 0.99)
    assert r["qdq"]["per_channel_weights"] == r["qdq"]["int8_weights"] > 0

    cal_f, held_f = eav_inputs_from_folder(ckpt["dataset"]["root"], ckpt["data_config"], shapes)
    assert (len(cal_f), len(held_f)) == (6, 4)
    # one trial per emotion here, so disjoint trials mean disjoint labels
    assert set(cal_f.labels).isdisjoint(held_f.labels)
    assert set(cal_f.labels) | set(held_f.labels) == set(range(len(EMOTIONS)))
    with pytest.raises(ValueError, match="not an EAV-layout folder"):
        eav_inputs_from_folder(tmp_path, ckpt["data_config"], shapes)
    bad = {**shapes, "eeg": (30, 99)}
    with pytest.raises(ValueError, match="gives input shapes"):
        eav_inputs_from_folder(ckpt["dataset"]["root"], ckpt["data_config"], bad)


def test_cli_refuses_conflicting_input_options(exported, tmp_path, capsys):
    ckpt_path, _, _ = exported
    rc = main([str(ckpt_path), "--out", str(tmp_path / "b"), "--synthetic",
               "--features", str(tmp_path)])  # fmt: skip
    assert rc == 1 and "exclude each other" in capsys.readouterr().err
