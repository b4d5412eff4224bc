"""Checkpoint -> model bundle, one path for every model family.

The steps, in order: check the checkpoint and the calibration/held-out inputs against
each other (nothing is written before), ONNX fp32 with a dynamic batch (the family's
inputs, in order), ONNX vs torch on the held-out inputs, INT8 Q/DQ (calibrated on the
calibration inputs, compared with fp32 on the held-out ones), optionally FP16, the torch
state, the parity report (``parity.json``/``parity.md``) and ``manifest.json`` (schema
``edge_emotion.bundle/1``), written last, so a folder with a manifest is complete. The
bundle is written in a folder beside ``--out`` and validated by the loader of its kind
before it is moved into place (:func:`edge_emotion.out_dir.stage_bundle`: an existing
bundle is replaced only with ``force``, a user's files are never deleted), and validated
again there before anything is reported as written.

What differs between families — which inputs, how decisions are compared, whether INT8
must agree with fp32 to ship, the family's manifest entries and report text — is a
:class:`BundleContent`: :class:`~edge_emotion.export.eeg_ecg_bundle.EegEcgBundle` (read by
the Jetson runtime, :func:`edge_emotion.bundle.load_bundle`) and
:class:`~edge_emotion.export.eav_bundle.EavBundle`.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import (
    BATCH_DIM,
    MANIFEST_NAME,
    OUTPUT_LOGITS,
    ROLE_ONNX_FP16,
    ROLE_ONNX_FP32,
    ROLE_ONNX_INT8,
    ROLE_REPORT,
    ROLE_TORCH_STATE,
    SCHEMA,
    sha256_file,
)
from edge_emotion.export.bundle_content import PARITY_BATCH, BundleContent, ExportOptions
from edge_emotion.export.data import InputSet
from edge_emotion.export.eav_bundle import EavBundle
from edge_emotion.export.eeg_ecg_bundle import EegEcgBundle
from edge_emotion.export.onnx_export import (
    EXPORTER,
    compare_feeds_with_torch,
    export_graph,
    graph_io,
)
from edge_emotion.export.parity import run_onnx_feeds
from edge_emotion.export.quantize import convert_fp16
from edge_emotion.out_dir import stage_bundle
from edge_emotion.training.checkpoint import load_checkpoint
from edge_emotion.training.families import EAV_FUSION, EEG_ECG, family_of

FILE_FP32 = "model.onnx"
FILE_INT8 = "model.int8.onnx"
FILE_FP16 = "model.fp16.onnx"
FILE_TORCH = "model.pt"
FILE_PARITY_JSON = "parity.json"
FILE_PARITY_MD = "parity.md"


@dataclass
class ExportResult:
    """The manifest as the bundle's loader read it back, the parity report, and every
    file written (the manifest last)."""

    manifest: dict[str, Any]
    report: dict[str, Any]
    written: list[Path] = field(default_factory=list)


def content_for(checkpoint: Mapping[str, Any]) -> BundleContent:
    """The family-specific part for a checkpoint dict of any family (checked first)."""
    checkpoint = load_checkpoint(checkpoint)
    kinds: dict[str, Callable[[dict[str, Any]], BundleContent]] = {
        EEG_ECG.name: EegEcgBundle,
        EAV_FUSION.name: EavBundle,
    }
    return kinds[family_of(checkpoint).name](checkpoint)


def export_bundle(
    checkpoint: Mapping[str, Any] | BundleContent,
    out_dir: Path | str,
    calibration: InputSet,
    heldout: InputSet,
    options: ExportOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the bundle of ``checkpoint`` (a checkpoint dict, or its :func:`content_for`)
    into ``out_dir`` (created, or a bundle there replaced with ``options.force``; see
    :func:`edge_emotion.out_dir.stage_bundle`).

    ``calibration`` feeds INT8 calibration, ``heldout`` the parity report; ``progress``
    (optional) is called with a short message before each step.
    """
    import torch

    content = content_for(checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    options = options or ExportOptions()
    say = progress or (lambda msg: None)
    family, ckpt, model = content.family, content.checkpoint, content.model
    cal_feeds = content.feeds(calibration, "calibration")
    held_feeds = content.feeds(heldout, "heldout")
    staged = stage_bundle(out_dir, force=options.force)
    out = staged.path

    say("exporting ONNX (fp32, dynamic batch)")
    fp32 = export_graph(model, family.example_inputs(ckpt["model_config"], 2), out / FILE_FP32)
    names = [name for name, _ in graph_io(fp32)["inputs"]]
    if names != list(family.inputs_of(ckpt["model_config"])):
        raise ValueError(
            f"the exported graph has inputs {names}, expected "
            f"{list(family.inputs_of(ckpt['model_config']))}; "
            "the runtime feeds all of them, so a graph without one cannot be served"
        )
    onnx_check = compare_feeds_with_torch(model, fp32, held_feeds)
    with torch.inference_mode():
        torch_logits = np.concatenate(
            [
                model(*(torch.from_numpy(v[i : i + PARITY_BATCH]) for v in held_feeds.values()))
                .float()
                .numpy()
                for i in range(0, len(heldout), PARITY_BATCH)
            ]
        )
    fp32_logits = run_onnx_feeds(fp32, held_feeds, batch=PARITY_BATCH)

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
    }
    content.add_to_report(report, calibration, heldout, held_feeds, torch_logits, fp32_logits)
    files = {FILE_FP32: ROLE_ONNX_FP32}

    say(f"quantising to INT8 Q/DQ (calibration: {len(calibration)} {content.unit})")
    int8 = content.int8(
        fp32, out / FILE_INT8, calibration, cal_feeds, heldout, held_feeds, fp32_logits, options
    )
    report.update(int8.report)
    if int8.shipped:
        files[FILE_INT8] = ROLE_ONNX_INT8
    if options.fp16:
        say("converting to FP16")
        convert_fp16(fp32, out / FILE_FP16)
        fp16_logits = run_onnx_feeds(out / FILE_FP16, held_feeds, batch=PARITY_BATCH)
        report["fp16_vs_fp32"] = content.compare(fp32_logits, fp16_logits, heldout.labels)
        files[FILE_FP16] = ROLE_ONNX_FP16
    if options.include_torch_state:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / FILE_TORCH)
        files[FILE_TORCH] = ROLE_TORCH_STATE
    files.update(write_parity_report(out, report, content.parity_markdown(report)))

    shapes = family.input_shapes(ckpt["model_config"])
    n_outputs, activation = content.outputs
    manifest = {
        "schema": SCHEMA,
        "kind": family.name,
        "name": name,
        "demo": demo,
        "synthetic": synthetic,
        "dataset": dataset,
        **content.manifest_entries(),
        "inputs": [
            {"name": n, "shape": [BATCH_DIM, *shapes[n]], "dtype": "float32", **notes}
            for n, notes in content.input_notes.items()
        ],
        "outputs": [
            {
                "name": OUTPUT_LOGITS,
                "shape": [BATCH_DIM, n_outputs],
                "dtype": "float32",
                "activation": activation,
            }
        ],
        "metrics": ckpt.get("metrics") or {},
        "onnx": {"opset": onnx_check.opset, "exporter": EXPORTER, "dynamic_axes": [BATCH_DIM]},
        "quantization": int8.quantization,
        "parity": {
            "onnx_max_abs_diff": max(
                report["onnx_vs_torch"]["heldout_max_abs_diff"], onnx_check.worst
            ),
            **int8.parity,
        },
        "versions": export_versions(ckpt),
    }
    written = write_manifest(out, manifest, files)
    content.validate(out)  # the new bundle verifies before it replaces anything
    out = staged.commit(say)
    return ExportResult(
        manifest=content.validate(out), report=report, written=[out / p.name for p in written]
    )


def export_versions(ckpt: Mapping[str, Any]) -> dict[str, Any]:
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


def bundle_identity(
    ckpt: Mapping[str, Any], options: ExportOptions, out: Path
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
