"""Checkpoint -> model bundle: ONNX fp32, INT8 Q/DQ, optional FP16, parity report, manifest.

The manifest (schema ``edge_emotion.bundle/1``, read by :mod:`edge_emotion.bundle`)
pins everything the device needs; :func:`export_bundle` re-loads the written bundle
with :func:`edge_emotion.bundle.load_bundle` before returning, so a bundle that the
runtime would refuse is never reported as written.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import (
    BATCH_DIM,
    INPUT_ECG,
    INPUT_EEG,
    KIND_EEG_ECG,
    MANIFEST_NAME,
    OUTPUT_LOGITS,
    ROLE_ONNX_FP16,
    ROLE_ONNX_FP32,
    ROLE_ONNX_INT8,
    ROLE_REPORT,
    ROLE_TORCH_STATE,
    SCHEMA,
    Bundle,
    Normalization,
    load_bundle,
    sha256_file,
)
from edge_emotion.export.data import FeatureSet
from edge_emotion.export.onnx_export import EXPORTER, compare_with_torch, export_onnx
from edge_emotion.export.parity import compare_decisions, parity_markdown, run_onnx
from edge_emotion.export.quantize import (
    QUANTIZED_OP_TYPES,
    ArrayCalibrationReader,
    convert_fp16,
    quantize_int8,
)
from edge_emotion.out_dir import stage_bundle

CHECKPOINT_FORMAT = "edge_emotion.checkpoint/1"
FILE_FP32 = "model.onnx"
FILE_INT8 = "model.int8.onnx"
FILE_FP16 = "model.fp16.onnx"
FILE_TORCH = "model.pt"
FILE_PARITY_JSON = "parity.json"
FILE_PARITY_MD = "parity.md"


@dataclass(frozen=True)
class ExportOptions:
    """What to write besides model.onnx and model.int8.onnx."""

    fp16: bool = False
    include_torch_state: bool = True
    demo: bool | None = None  # None: from the checkpoint's dataset info
    name: str | None = None  # bundle name in the manifest; default: the folder name
    calibration_batch: int = 32
    calibration_method: str = "percentile"  # see edge_emotion.export.quantize.quantize_int8
    force: bool = False  # replace an existing bundle (see edge_emotion.out_dir.stage_bundle)


@dataclass
class ExportResult:
    bundle: Bundle
    report: dict[str, Any]
    written: list[Path] = field(default_factory=list)


def check_checkpoint(ckpt: Any) -> dict[str, Any]:
    """Raise ``ValueError`` naming every missing/invalid field of a checkpoint dict."""
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint must be a dict, got {type(ckpt).__name__}")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint format is {ckpt.get('format')!r}; expected {CHECKPOINT_FORMAT!r} "
            "(EEG+ECG) or 'edge_emotion.eav_checkpoint/1' (EAV fusion)"
        )
    required = ("model_config", "model_state", "feature_config", "normalization", "targets")
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise ValueError(f"checkpoint lacks fields {missing}")
    return ckpt


def export_versions(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Package versions: those training recorded in ``ckpt`` and those of this export."""
    import onnx
    import onnxruntime
    import torch

    import edge_emotion

    return {
        "training": dict(ckpt.get("versions") or {}),
        "export": {
            "edge_emotion": edge_emotion.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


def export_bundle(
    ckpt: dict[str, Any],
    out_dir: Path | str,
    calibration: FeatureSet,
    heldout: FeatureSet,
    options: ExportOptions | None = None,
    progress=None,
) -> ExportResult:
    """Write a bundle for checkpoint dict ``ckpt`` into ``out_dir`` (created, or replaced
    with ``options.force``; see :func:`edge_emotion.out_dir.stage_bundle`).

    ``calibration`` feeds INT8 calibration; ``heldout`` the parity report. ``progress``
    (optional) is called with a short message before each step.
    """
    import torch

    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.training.models import build_model

    options = options or ExportOptions()
    say = progress or (lambda msg: None)
    ckpt = check_checkpoint(ckpt)
    fc = FeatureConfig.from_dict(ckpt["feature_config"])
    targets = tuple(ckpt["targets"])
    thresholds = {t: float(v) for t, v in (ckpt.get("thresholds") or {}).items()}
    thresholds = {t: thresholds.get(t, 0.5) for t in targets}
    norm = Normalization.from_dict(
        ckpt["normalization"], n_bands=len(fc.bands), n_channels=len(fc.eeg_channels)
    )
    model = build_model(ckpt["model_config"])
    model.load_state_dict(ckpt["model_state"])
    model.eval()
    _check_model_matches(model, fc, len(targets))
    for name, fs in (("calibration", calibration), ("heldout", heldout)):
        if fs.eeg.shape[1:] != tuple(fc.eeg_shape) or fs.ecg.shape[1:] != (1, *fc.hrv_shape):
            raise ValueError(
                f"{name} features have shapes {fs.eeg.shape[1:]} / {fs.ecg.shape[1:]}; the "
                f"feature config needs {tuple(fc.eeg_shape)} / {(1, *fc.hrv_shape)}"
            )
        if fs.labels is not None and fs.labels.shape[1] != len(targets):
            raise ValueError(f"{name} labels have {fs.labels.shape[1]} columns, targets {targets}")

    staged = stage_bundle(out_dir, force=options.force)
    out = staged.path

    say("exporting ONNX (fp32, dynamic batch)")
    fp32 = export_onnx(model, tuple(fc.eeg_shape), fc.hrv_length, out / FILE_FP32)
    cal_eeg, cal_ecg = calibration.normalized(norm)
    ho_eeg, ho_ecg = heldout.normalized(norm)
    onnx_check = compare_with_torch(model, fp32, ho_eeg, ho_ecg)
    with torch.inference_mode():
        torch_logits = model(torch.from_numpy(ho_eeg), torch.from_numpy(ho_ecg)).numpy()
    fp32_logits = run_onnx(fp32, ho_eeg, ho_ecg)

    say(f"quantising to INT8 Q/DQ (calibration: {len(calibration)} windows)")
    qdq = quantize_int8(
        fp32,
        out / FILE_INT8,
        ArrayCalibrationReader(cal_eeg, cal_ecg, options.calibration_batch),
        method=options.calibration_method,
    )
    int8_logits = run_onnx(out / FILE_INT8, ho_eeg, ho_ecg)

    name, dataset, synthetic, demo = bundle_identity(ckpt, options, out)
    report: dict[str, Any] = {
        "bundle_name": name,
        "demo": demo,
        "data": {
            "calibration": {"n": len(calibration), "source": calibration.source},
            "heldout": {
                "n": len(heldout),
                "source": heldout.source,
                "labelled": heldout.labels is not None,
            },
        },
        "onnx_vs_torch": {
            "exporter": EXPORTER,
            "opset": onnx_check.opset,
            "max_abs_diff_by_batch": {str(k): v for k, v in onnx_check.max_abs_diff.items()},
            "heldout_max_abs_diff": float(np.max(np.abs(fp32_logits - torch_logits))),
        },
        "int8_vs_fp32": compare_decisions(
            fp32_logits, int8_logits, targets, thresholds, heldout.labels
        ),
        "qdq": qdq.to_dict(),
    }
    files = {FILE_FP32: ROLE_ONNX_FP32, FILE_INT8: ROLE_ONNX_INT8}
    if options.fp16:
        say("converting to FP16")
        convert_fp16(fp32, out / FILE_FP16)
        fp16_logits = run_onnx(out / FILE_FP16, ho_eeg, ho_ecg)
        report["fp16_vs_fp32"] = compare_decisions(
            fp32_logits, fp16_logits, targets, thresholds, heldout.labels
        )
        files[FILE_FP16] = ROLE_ONNX_FP16
    if options.include_torch_state:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / FILE_TORCH)
        files[FILE_TORCH] = ROLE_TORCH_STATE
    files.update(write_parity_report(out, report, parity_markdown(report)))

    manifest = {
        "schema": SCHEMA,
        "kind": KIND_EEG_ECG,
        "name": name,
        "demo": demo,
        "synthetic": synthetic,
        "dataset": dataset,
        "feature_config": fc.to_dict(),
        "feature_config_digest": fc.digest(),
        "channels": [{"name": c, "role": "eeg", "fs": fc.eeg_fs} for c in fc.eeg_channels]
        + [{"name": fc.ecg_channel, "role": "ecg", "fs": fc.ecg_fs}],
        "normalization": norm.to_dict(),
        "targets": list(targets),
        "thresholds": thresholds,
        "metrics": ckpt.get("metrics") or {},
        "model": {"config": ckpt["model_config"], "checkpoint_format": ckpt["format"]},
        "inputs": [
            {
                "name": INPUT_EEG,
                "shape": [BATCH_DIM, *fc.eeg_shape],
                "dtype": "float32",
                "layout": "bands, channels, subwindows",
                "normalized_by_caller": True,
            },
            {
                "name": INPUT_ECG,
                "shape": [BATCH_DIM, 1, *fc.hrv_shape],
                "dtype": "float32",
                "layout": "1, hrv_length (RR seconds, zero-embedded)",
                "normalized_by_caller": True,
            },
        ],
        "outputs": [
            {
                "name": OUTPUT_LOGITS,
                "shape": [BATCH_DIM, len(targets)],
                "dtype": "float32",
                "activation": "sigmoid -> P(high) per target",
            }
        ],
        "onnx": {"opset": onnx_check.opset, "exporter": EXPORTER, "dynamic_axes": [BATCH_DIM]},
        "quantization": {
            "format": "QDQ",
            "activations": "int8, symmetric (zero-point 0), per-tensor",
            "calibration_method": qdq.calibration,
            "weights": "int8, symmetric (zero-point 0), per-channel",
            "quantized_op_types": list(QUANTIZED_OP_TYPES),
            "calibration": report["data"]["calibration"],
        },
        "parity": {
            "onnx_max_abs_diff": max(
                report["onnx_vs_torch"]["heldout_max_abs_diff"], onnx_check.worst
            ),
            "int8_decision_agreement": report["int8_vs_fp32"]["decision_agreement"],
            "int8_meets_goal": report["int8_vs_fp32"]["meets_goal"],
        },
        "versions": export_versions(ckpt),
    }
    written = write_manifest(out, manifest, files)
    load_bundle(out)  # the new bundle verifies before it replaces anything
    out = staged.commit(say)
    bundle = load_bundle(out)
    return ExportResult(bundle=bundle, report=report, written=[out / p.name for p in written])


# ---------------------------------------------------------------- shared by both model families


def bundle_identity(
    ckpt: dict[str, Any], options: ExportOptions, out: Path
) -> tuple[str, dict[str, Any], bool, bool]:
    """The bundle's name, its dataset record, and whether it is synthetic / a demo.

    Workstation paths mean nothing on the device (and leak folder names): the dataset
    record keeps only file names. A bundle trained on synthetic data is a demo unless
    ``options.demo`` says otherwise.
    """
    name = options.name or out.resolve().name
    dataset = {
        k: Path(v).name if k in ("root", "feature_cache") and isinstance(v, str) and v else v
        for k, v in (ckpt.get("dataset") or {}).items()
    }
    synthetic = bool(dataset.get("synthetic", False))
    demo = synthetic if options.demo is None else bool(options.demo)
    return name, dataset, synthetic, demo


def write_parity_report(out: Path, report: dict[str, Any], markdown: str) -> dict[str, str]:
    """Write parity.json and parity.md into ``out``; returns their file -> role entries."""
    (out / FILE_PARITY_JSON).write_text(
        json.dumps(_jsonable(report), indent=2, sort_keys=True) + "\n"
    )
    (out / FILE_PARITY_MD).write_text(markdown + "\n")
    return {FILE_PARITY_JSON: ROLE_REPORT, FILE_PARITY_MD: ROLE_REPORT}


def file_table(out: Path, files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The manifest's ``files`` entry: role, sha256 and size of each file (name -> role)."""
    return {
        fname: {
            "role": role,
            "sha256": sha256_file(out / fname),
            "bytes": (out / fname).stat().st_size,
        }
        for fname, role in files.items()
    }


def write_manifest(out: Path, manifest: dict[str, Any], files: dict[str, str]) -> list[Path]:
    """Hash ``files`` into ``manifest["files"]`` and write manifest.json (written last, so
    a bundle with a manifest is complete). Returns every path written, manifest last."""
    manifest = {**manifest, "files": file_table(out, files)}
    (out / MANIFEST_NAME).write_text(
        json.dumps(_jsonable(manifest), indent=2, sort_keys=True) + "\n"
    )
    return [out / f for f in files] + [out / MANIFEST_NAME]


def _check_model_matches(model, fc, n_targets: int) -> None:
    import torch

    eeg = torch.zeros(2, *fc.eeg_shape)
    ecg = torch.zeros(2, 1, *fc.hrv_shape)
    try:
        with torch.inference_mode():
            out = model(eeg, ecg)
    except Exception as exc:
        raise ValueError(
            f"the model does not accept the feature config's input shapes eeg {tuple(eeg.shape)}"
            f", ecg {tuple(ecg.shape)}: {exc}"
        ) from None
    if tuple(out.shape) != (2, n_targets):
        raise ValueError(f"model output shape {tuple(out.shape)}; expected (batch, {n_targets})")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
