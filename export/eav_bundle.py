"""The EEG + audio + video family's part of a bundle (kind ``eav-fusion``), and its loader.

The fusion model (:mod:`edge_emotion.training.models.eav_fusion`) goes through the same
steps as the EEG+ECG model (:func:`edge_emotion.export.bundle_writer.export_bundle`):
``model.onnx`` (fp32, dynamic batch; inputs ``eeg``, ``audio``, ``video``, ``mask``;
output ``logits`` over the classes), optionally ``model.int8.onnx`` (Q/DQ) and
``model.fp16.onnx``, ``model.pt``, ``parity.json``/``parity.md`` and ``manifest.json``
with ``"kind": "eav-fusion"``, the classes and the preprocessing (the checkpoint's data
configuration). Calibration and parity inputs: an EAV-layout folder when one is given (or
the checkpoint's recorded dataset root exists), else synthetic inputs
(:mod:`edge_emotion.export.data`). A decision is the argmax over the classes.

INT8: only the MatMul/Gemm/Conv nodes with a constant weight are quantised
(per-channel int8 weights, per-tensor int8 activations, symmetric); the activation x
activation products inside attention, softmax, layer norm and GELU stay fp32. The
quantised graph ships only when its argmax agrees with fp32 on >= 99 % of the held-out
inputs; otherwise the bundle is fp32-only and the parity report says why.

:func:`load_eav_bundle` validates such a bundle without torch or onnx (the Jetson runtime
classifies EEG+ECG bundles and refuses this kind).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import (
    BATCH_DIM,
    KIND_EAV,
    SCHEMA,
    BundleError,
    check_files,
    read_manifest,
)
from edge_emotion.export.bundle_content import PARITY_BATCH, ExportOptions, Int8Step
from edge_emotion.export.data import (
    SYNTHETIC_EAV,
    EAVInputs,
    eav_inputs_from_folder,
    synthetic_inputs,
)
from edge_emotion.export.parity import compare_classes, onnx_markdown, run_onnx_feeds
from edge_emotion.export.quantize import QUANTIZED_OP_TYPES, FeedsCalibrationReader, quantize_int8
from edge_emotion.training.datasets.eav_layout import MODALITIES
from edge_emotion.training.families import EAV_FUSION

DEFAULT_CALIBRATION = 128
DEFAULT_HELDOUT = 512


class EavBundle:
    """An ``edge_emotion.eav_checkpoint/1`` checkpoint's bundle content (see the module
    docstring)."""

    family = EAV_FUSION
    unit = "inputs"
    heading = "EAV fusion checkpoint (EEG + audio + video)"

    def __init__(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoint = dict(checkpoint)
        self.model = EAV_FUSION.load_model(checkpoint)
        config = self.model.config
        self.classes = tuple(str(c) for c in checkpoint["classes"])
        if len(self.classes) != config.n_classes:
            raise ValueError(
                f"checkpoint lists {len(self.classes)} classes {self.classes}, the model has "
                f"{config.n_classes} outputs"
            )
        self.shapes = EAV_FUSION.input_shapes(config)
        self.outputs = (len(self.classes), "softmax -> class probabilities; decision = argmax")
        d = self.checkpoint["data_config"]
        self.input_notes = {
            "eeg": {
                "layout": "channels, samples",
                "preprocessing": (
                    f"resampled to {d.get('eeg_target_fs')} Hz, zero-phase band-pass "
                    f"{d.get('eeg_band')} Hz, {d.get('window_s')} s "
                    "windows, z-scored per window and channel"
                ),
            },
            "audio": {
                "layout": "n_mels, frames",
                "preprocessing": (
                    f"log-mel (dB) at {d.get('audio_sr')} Hz, "
                    f"{d.get('mel_win_ms')} ms window, {d.get('mel_hop_ms')} "
                    "ms hop, standardised per window"
                ),
            },
            "video": {
                "layout": "frames, RGB, height, width",
                "preprocessing": "evenly spaced frames per window, RGB uint8 / 255 -> [0, 1]",
            },
            "mask": {
                "layout": "eeg, audio, video",
                "preprocessing": "1 where the modality is present, 0 where missing "
                "(zero its input)",
            },
        }

    def choose_inputs(
        self,
        features: Path | None,
        synthetic: bool,
        n_calibration: int | None,
        n_heldout: int | None,
        seed: int,
        say: Callable[[str], None],
    ) -> tuple[EAVInputs, EAVInputs]:
        """Windows of the EAV-layout folder ``features`` (default: the dataset root the
        checkpoint records, if it exists and ``synthetic`` is not set), else synthetic
        inputs (seeds ``seed`` and ``seed + 1``); at most ``n_calibration``/``n_heldout``."""
        if synthetic and features is not None:
            raise ValueError("--synthetic and --features exclude each other")
        n_cal = DEFAULT_CALIBRATION if n_calibration is None else n_calibration
        n_held = DEFAULT_HELDOUT if n_heldout is None else n_heldout
        if n_cal < 1 or n_held < 1:
            raise ValueError("n_calibration and n_heldout must be >= 1")
        recorded = (self.checkpoint.get("dataset") or {}).get("root")
        data_root = features
        if data_root is None and not synthetic and isinstance(recorded, str):
            data_root = Path(recorded) if Path(recorded).is_dir() else None
        if data_root is None:
            return (
                EAVInputs(synthetic_inputs(self.shapes, n_cal, seed), None, SYNTHETIC_EAV, seed),
                EAVInputs(
                    synthetic_inputs(self.shapes, n_held, seed + 1), None, SYNTHETIC_EAV, seed + 1
                ),
            )
        say(f"loading calibration/held-out windows from {data_root}")
        calibration, heldout = eav_inputs_from_folder(
            data_root, self.checkpoint["data_config"], self.shapes
        )
        return calibration.at_most(n_cal), heldout.at_most(n_held)

    def feeds(self, inputs: EAVInputs, what: str) -> dict[str, np.ndarray]:
        got = {k: tuple(v.shape[1:]) for k, v in inputs.feeds.items()}
        if got != self.shapes:
            raise ValueError(f"{what} inputs have shapes {got}; the model takes {self.shapes}")
        return inputs.feeds

    def compare(
        self, reference: np.ndarray, logits: np.ndarray, labels: np.ndarray | None
    ) -> dict[str, Any]:
        return compare_classes(reference, logits, self.classes, labels)

    def add_to_report(
        self,
        report: dict[str, Any],
        calibration: EAVInputs,
        heldout: EAVInputs,
        heldout_feeds: dict[str, np.ndarray],
        torch_logits: np.ndarray,
        fp32_logits: np.ndarray,
    ) -> None:
        """The kind, the seeds of synthetic inputs, how many held-out rows hide a
        modality, and ONNX-vs-torch argmax agreement."""
        report["kind"] = KIND_EAV
        data = report["data"]
        data["heldout"]["rows_with_a_hidden_modality"] = int(
            (heldout_feeds["mask"] < 0.5).any(axis=1).sum()
        )
        for key, inputs in (("calibration", calibration), ("heldout", heldout)):
            if inputs.seed is not None:
                data[key]["seed"] = inputs.seed
        report["onnx_vs_torch"]["heldout_decision_agreement"] = self.compare(
            torch_logits, fp32_logits, None
        )["decision_agreement"]

    def int8(
        self,
        fp32: Path,
        dst: Path,
        calibration: EAVInputs,
        calibration_feeds: dict[str, np.ndarray],
        heldout: EAVInputs,
        heldout_feeds: dict[str, np.ndarray],
        fp32_logits: np.ndarray,
        options: ExportOptions,
    ) -> Int8Step:
        """Quantise the weighted nodes, compare with fp32, and ship INT8 only when its
        argmax agrees on >= 99 % of the held-out inputs (any failure: fp32 only)."""
        result: dict[str, Any] = {"calibration_data": calibration.source}
        try:
            qdq = quantize_int8(
                fp32,
                dst,
                FeedsCalibrationReader(calibration_feeds, options.calibration_batch),
                method=options.calibration_method,
                weighted_nodes_only=True,
            )
            int8_logits = run_onnx_feeds(dst, heldout_feeds, batch=PARITY_BATCH)
        except Exception as exc:  # any failure means: ship fp32 only, and say why
            result.update(
                shipped=False, reason=f"INT8 quantisation failed: {type(exc).__name__}: {exc}"
            )
        else:
            vs = self.compare(fp32_logits, int8_logits, heldout.labels)
            result.update(qdq=qdq.to_dict(), vs_fp32=vs, shipped=bool(vs["meets_goal"]))
            if not vs["meets_goal"]:
                result["reason"] = (
                    f"INT8 argmax agrees with fp32 on {vs['decision_agreement']:.2%} of "
                    f"{vs['n']} held-out inputs, below the {vs['goal']:.0%} goal; fp32 only"
                )
            else:
                result["qdq_manifest"] = {
                    "shipped": True,
                    "format": "QDQ",
                    "activations": "int8, symmetric (zero-point 0), per-tensor",
                    "weights": "int8, symmetric (zero-point 0), per-channel",
                    "quantized_nodes": "Conv/Gemm/MatMul with a constant weight; "
                    "attention products fp32",
                    "quantized_op_types": list(QUANTIZED_OP_TYPES),
                    "calibration_method": qdq.calibration,
                    "calibration": {"n": len(calibration), "source": calibration.source},
                }
        if not result["shipped"]:
            dst.unlink(missing_ok=True)
        return Int8Step(
            shipped=result["shipped"],
            report={"int8": result},
            quantization=result.get("qdq_manifest")
            or {"shipped": False, "reason": result["reason"]},
            parity={
                "int8_decision_agreement": (result.get("vs_fp32") or {}).get("decision_agreement"),
                "int8_shipped": result["shipped"],
            },
        )

    def manifest_entries(self) -> dict[str, Any]:
        config = self.model.config
        return {
            "classes": list(self.classes),
            "model": {
                "family": "eav-fusion (arXiv 2411.00822)",
                "modalities": list(config.modalities),
                "fusion": config.fusion,
                "config": self.checkpoint["model_config"],
                "checkpoint_format": self.checkpoint["format"],
            },
            "preprocessing": dict(self.checkpoint["data_config"]),
        }

    def parity_markdown(self, report: dict[str, Any]) -> str:
        return eav_parity_markdown(report)

    def summary(self, report: dict[str, Any]) -> list[str]:
        onnx_check, i8 = report["onnx_vs_torch"], report["int8"]
        lines = [
            f"ONNX vs torch: max |Δlogit| {onnx_check['heldout_max_abs_diff']:.2e}, argmax "
            f"agreement {onnx_check['heldout_decision_agreement']:.2%} on "
            f"{report['data']['heldout']['n']} held-out inputs (opset {onnx_check['opset']})"
        ]
        if "vs_fp32" in i8:
            vs = i8["vs_fp32"]
            acc = (
                f", accuracy {vs['accuracy_reference']:.2%} -> {vs['accuracy']:.2%}"
                if "accuracy" in vs
                else ""
            )
            lines.append(f"INT8 vs fp32: argmax agreement {vs['decision_agreement']:.2%}{acc}")
        lines.append(
            "INT8 shipped (model.int8.onnx)"
            if i8["shipped"]
            else f"INT8 not shipped: {i8['reason']}"
        )
        if "fp16_vs_fp32" in report:
            agreement = report["fp16_vs_fp32"]["decision_agreement"]
            lines.append(f"FP16 vs fp32: argmax agreement {agreement:.2%}")
        lines.append(
            "note: an EAV bundle is not loadable by the Jetson EEG+ECG runtime "
            "(edge_emotion.export.eav_bundle.load_eav_bundle validates it)"
        )
        return lines

    def validate(self, out: Path) -> dict[str, Any]:
        return load_eav_bundle(out)


def eav_parity_markdown(report: dict[str, Any]) -> str:
    """``parity.md`` for an EAV bundle."""
    lines = [f"# Parity report — {report['bundle_name']} (EAV fusion)", ""]
    if report.get("demo"):
        lines += ["**Demo bundle: trained on synthetic data; not an emotion model.**", ""]
    ho = report["data"]["heldout"]
    lines += [
        "## Data",
        "",
        f"- calibration: {report['data']['calibration']['n']} inputs — "
        f"{report['data']['calibration']['source']}",
        f"- held-out: {ho['n']} inputs ({ho['rows_with_a_hidden_modality']} with a hidden "
        f"modality) — {ho['source']}"
        + ("" if ho["labelled"] else " (unlabelled: no accuracy change)"),
        "",
    ]
    lines += onnx_markdown(report["onnx_vs_torch"])
    lines += [
        "Argmax agreement ONNX fp32 vs torch on the held-out set: "
        f"{report['onnx_vs_torch']['heldout_decision_agreement']:.4f}",
        "",
        "## INT8 (Q/DQ) vs fp32",
        "",
    ]
    i8 = report["int8"]
    vs = i8.get("vs_fp32")
    if vs is not None:
        lines += [
            f"Argmax agreement {vs['decision_agreement']:.4f} of {vs['n']} inputs; max |ΔP| "
            f"{vs['max_abs_prob_diff']:.3g}, mean |ΔP| {vs['mean_abs_prob_diff']:.3g}, max "
            f"|Δlogit| {vs['max_abs_logit_diff']:.3g}.",
            "",
        ]
        if "accuracy" in vs:
            lines += [
                f"Accuracy fp32 {vs['accuracy_reference']:.4f}, INT8 {vs['accuracy']:.4f} "
                f"(change {vs['accuracy_change']:+.4f}).",
                "",
            ]
    lines.append(
        "**Shipped** (model.int8.onnx)." if i8["shipped"] else f"**Not shipped**: {i8['reason']}"
    )
    lines.append("")
    f16 = report.get("fp16_vs_fp32")
    if f16 is not None:
        lines += [
            "## FP16 vs fp32",
            "",
            f"Argmax agreement {f16['decision_agreement']:.4f} of {f16['n']} inputs; max |ΔP| "
            f"{f16['max_abs_prob_diff']:.3g}.",
            "",
        ]
    return "\n".join(lines)


def load_eav_bundle(path: Path | str) -> dict[str, Any]:
    """Validate an EAV bundle folder and return its manifest (JSON and file checks only).

    Raises :class:`~edge_emotion.bundle.BundleError` listing every problem: not an EAV
    bundle, missing keys, classes/inputs/outputs inconsistent with each other, files
    missing or whose sha256 differs from the manifest.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != KIND_EAV:
        kind = manifest.get("kind")
        raise BundleError(path, [f"kind is {kind!r}, not an EAV bundle ({KIND_EAV!r})"])
    problems: list[str] = []
    if manifest.get("schema") != SCHEMA:
        problems.append(f"schema is {manifest.get('schema')!r}; expected {SCHEMA!r}")
    required = ("classes", "model", "preprocessing", "inputs", "outputs", "onnx", "files")
    problems += [f"manifest.json is missing key {k!r}" for k in required if k not in manifest]
    if problems:
        raise BundleError(path, problems)
    classes = manifest["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or len(set(classes)) != len(classes):
        problems.append(f"classes must be >= 2 distinct names, got {classes!r}")
    inputs = manifest["inputs"]
    names = [e.get("name") for e in inputs] if isinstance(inputs, list) else None
    if names != list(EAV_FUSION.input_names):
        problems.append(f"inputs must be {list(EAV_FUSION.input_names)}, got {names}")
    else:
        for e in inputs:
            shape = e.get("shape")
            if not isinstance(shape, list) or not shape or shape[0] != BATCH_DIM:
                problems.append(f"inputs[{e['name']!r}] shape {shape} lacks a leading batch axis")
            elif not all(isinstance(d, int) and d > 0 for d in shape[1:]):
                problems.append(f"inputs[{e['name']!r}] shape {shape} has non-positive sizes")
            if e.get("dtype") != "float32":
                problems.append(f"inputs[{e['name']!r}] dtype must be 'float32'")
        if inputs[3].get("shape") != [BATCH_DIM, len(MODALITIES)]:
            problems.append(f"inputs['mask'] shape must be [{BATCH_DIM!r}, {len(MODALITIES)}]")
    outputs = manifest["outputs"]
    if (
        isinstance(classes, list)
        and isinstance(outputs, list)
        and (len(outputs) != 1 or outputs[0].get("shape") != [BATCH_DIM, len(classes)])
    ):
        problems.append(f"outputs must be one tensor of shape [batch, {len(classes)}]")
    check_files(path, manifest["files"], problems)
    if problems:
        raise BundleError(path, problems)
    return manifest
