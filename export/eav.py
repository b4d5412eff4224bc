"""EAV fusion checkpoint (``edge_emotion.eav_checkpoint/1``) -> model bundle.

The EEG + audio + video transformer (:mod:`edge_emotion.training.models.eav`) goes
through the same steps as the EEG+ECG model, with the same code
(:func:`~edge_emotion.export.onnx_export.export_graph`,
:func:`~edge_emotion.export.onnx_export.compare_feeds_with_torch`,
:func:`~edge_emotion.export.quantize.quantize_int8`, the parity helpers and the
manifest writer of :mod:`edge_emotion.export.bundle_writer`): ``model.onnx`` (fp32,
dynamic batch; inputs ``eeg``, ``audio``, ``video``, ``mask``; output ``logits`` over the
classes), optionally ``model.int8.onnx`` (Q/DQ) and ``model.fp16.onnx``, ``model.pt``,
``parity.json``/``parity.md`` and ``manifest.json`` with ``"kind": "eav-fusion"``.

Calibration and parity inputs come from an EAV-layout folder when one is given (or the
checkpoint's recorded dataset root exists), preprocessed with the checkpoint's data
configuration by the training loader: labelled, so accuracy change is reported. Otherwise
they are synthetic: the preprocessed forms the EAV loader produces — EEG and log-mel
windows z-scored per window (per channel for EEG), so standard normal draws standardised
the same way, and video frames uniform in [0, 1] — with a random modality hidden
(zeroed, mask 0) in a quarter of the rows, the case modality dropout trains for. They
exercise every op over realistic value ranges but carry no emotion, so the report then
gives decision agreement, not accuracy.

INT8: only the MatMul/Gemm/Conv nodes with a constant weight are quantised
(per-channel int8 weights, per-tensor int8 activations, symmetric); the activation x
activation products inside attention, softmax, layer norm and GELU stay fp32. The
quantised graph ships only when its argmax agrees with fp32 on >= 99 % of the held-out
inputs; otherwise the bundle is fp32-only and the parity report says why.

:func:`load_eav_bundle` validates such a bundle without torch or onnx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import (
    BATCH_DIM,
    KIND_EAV,
    OUTPUT_LOGITS,
    ROLE_ONNX_FP16,
    ROLE_ONNX_FP32,
    ROLE_ONNX_INT8,
    ROLE_TORCH_STATE,
    SCHEMA,
    BundleError,
    _check_files,
    read_manifest,
)
from edge_emotion.export.bundle_writer import (
    FILE_FP16,
    FILE_FP32,
    FILE_INT8,
    FILE_TORCH,
    ExportOptions,
    bundle_identity,
    export_versions,
    write_manifest,
    write_parity_report,
)
from edge_emotion.out_dir import stage_bundle

EAV_CHECKPOINT_FORMAT = "edge_emotion.eav_checkpoint/1"
EAV_INPUTS = ("eeg", "audio", "video", "mask")
MODALITIES = ("eeg", "audio", "video")
SYNTHETIC = (
    "synthetic inputs (seeded): EEG (30 x T) and log-mel windows of standard normal draws "
    "z-scored per window as the EAV loader does, video frames uniform in [0, 1], one "
    "random modality hidden (zeroed, mask 0) in 25 % of rows; unlabelled"
)
EAV_REQUIRED = ("model_config", "model_state", "classes", "data_config")


@dataclass
class EAVExportResult:
    manifest: dict[str, Any]
    report: dict[str, Any]
    written: list[Path] = field(default_factory=list)


def is_eav_checkpoint(ckpt: Any) -> bool:
    return isinstance(ckpt, dict) and ckpt.get("format") == EAV_CHECKPOINT_FORMAT


def check_eav_checkpoint(ckpt: Any) -> dict[str, Any]:
    """Raise ``ValueError`` naming every missing field of an EAV checkpoint dict."""
    if not is_eav_checkpoint(ckpt):
        fmt = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"checkpoint format is {fmt!r}; expected {EAV_CHECKPOINT_FORMAT!r}")
    missing = [k for k in EAV_REQUIRED if k not in ckpt]
    if missing:
        raise ValueError(f"EAV checkpoint lacks fields {missing}")
    return ckpt


def input_shapes(model_config) -> dict[str, tuple[int, ...]]:
    """Per-sample shapes (no batch axis) of the four graph inputs for an EAVModelConfig."""
    c = model_config
    s = c.video.image_size
    return {
        "eeg": (c.eeg.channels, c.eeg.samples),
        "audio": (c.audio.n_mels, c.audio.frames),
        "video": (c.video.frames, 3, s, s),
        "mask": (len(MODALITIES),),
    }


def synthetic_inputs(
    shapes: dict[str, tuple[int, ...]], n: int, seed: int, missing_fraction: float = 0.25
) -> dict[str, np.ndarray]:
    """``n`` synthetic model inputs in the loader's preprocessed form (see module docs)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)

    def zscored(shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal((n, *shape))
        return (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + 1e-6)

    eeg = zscored(shapes["eeg"], (-1,))  # per channel, as preprocess_eeg
    audio = zscored(shapes["audio"], (-2, -1))  # per window, as log_mel_windows
    video = rng.uniform(0.0, 1.0, (n, *shapes["video"]))
    mask = np.ones((n, len(MODALITIES)))
    hide = np.flatnonzero(rng.uniform(size=n) < missing_fraction)
    mask[hide, rng.integers(0, len(MODALITIES), hide.size)] = 0.0
    feeds = {"eeg": eeg, "audio": audio, "video": video}
    for i, m in enumerate(MODALITIES):
        feeds[m][mask[:, i] == 0] = 0.0
    feeds["mask"] = mask
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}


@dataclass(frozen=True)
class EAVInputs:
    """Model inputs (``feeds``: name -> array, N rows), optional class labels (N,), source."""

    feeds: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.feeds["mask"])

    def take(self, idx: np.ndarray) -> EAVInputs:
        labels = None if self.labels is None else self.labels[idx]
        return EAVInputs({k: v[idx] for k, v in self.feeds.items()}, labels, self.source)

    def at_most(self, n: int) -> EAVInputs:
        """At most ``n`` rows, evenly spaced (every participant/trial, not the first few)."""
        if len(self) <= n:
            return self
        return self.take(np.linspace(0, len(self) - 1, n).round().astype(int))


def eav_inputs_from_folder(
    root: Path | str, data_config: dict[str, Any], shapes: dict[str, tuple[int, ...]]
) -> tuple[EAVInputs, EAVInputs]:
    """(calibration, held-out) windows of an EAV-layout folder, preprocessed with the
    checkpoint's ``data_config`` by :func:`edge_emotion.training.datasets.eav.load_eav`.

    Calibration takes the windows of every other trial, held-out those of the rest, so no
    trial is in both; which windows training saw is not recorded in a checkpoint, so
    held-out accuracy here is a parity measure, not a generalisation estimate.
    """
    from edge_emotion.training.datasets.eav import EAVConfig, list_subjects, load_eav

    root = Path(root)
    try:
        subjects = list_subjects(root)
    except (FileNotFoundError, NotADirectoryError):
        subjects = []
    if not subjects:
        raise ValueError(f"{root} is not an EAV-layout folder (<root>/subjectNN/...)")
    try:
        data = load_eav(root, subjects, config=EAVConfig.from_dict(data_config))
    except (FileNotFoundError, KeyError) as exc:
        raise ValueError(f"cannot load EAV windows from {root}: {exc}") from None
    feeds = {
        "eeg": data.eeg,
        "audio": data.audio,
        "video": data.video.astype(np.float32) / 255.0,
        "mask": data.mask.astype(np.float32),
    }
    got = {k: tuple(v.shape[1:]) for k, v in feeds.items()}
    if got != {k: tuple(v) for k, v in shapes.items()}:
        raise ValueError(f"{root} gives input shapes {got}; the model takes {shapes}")
    feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
    source = f"EAV-layout folder {root.name} ({len(data)} windows, {data_config['task']} task)"
    everything = EAVInputs(feeds, np.asarray(data.label, dtype=np.int64), source)
    # alternate over the task's trials in recording order (the stored trial numbers
    # interleave the two tasks, so their parity would put every trial on one side)
    rank = np.unique(data.trial, return_inverse=True)[1]
    even = np.flatnonzero(rank % 2 == 0)
    odd = np.flatnonzero(rank % 2 == 1)
    if even.size == 0 or odd.size == 0:
        raise ValueError(f"{root} has too few trials to split calibration from held-out")
    return everything.take(even), everything.take(odd)


def export_eav_bundle(
    checkpoint: Path | str,
    out_dir: Path | str,
    options: ExportOptions | None = None,
    n_calibration: int = 128,
    n_heldout: int = 512,
    seed: int = 0,
    data_root: Path | str | None = None,
    progress=None,
) -> EAVExportResult:
    """Write a bundle for the EAV checkpoint file ``checkpoint`` into ``out_dir``.

    The checkpoint is read by :func:`edge_emotion.training.eav.load_eav_checkpoint`
    (``torch.load(weights_only=True)``). INT8 calibration and the parity report use at
    most ``n_calibration``/``n_heldout`` windows of the EAV-layout folder ``data_root``
    (:func:`eav_inputs_from_folder`; labelled, so accuracy change is reported) or, when it
    is None, as many synthetic inputs (:func:`synthetic_inputs`, seeds ``seed`` and
    ``seed + 1``).
    """
    import torch

    from edge_emotion.training.eav import load_eav_checkpoint

    options = options or ExportOptions()
    say = progress or (lambda msg: None)
    if n_calibration < 1 or n_heldout < 1:
        raise ValueError("n_calibration and n_heldout must be >= 1")
    model, ckpt = load_eav_checkpoint(checkpoint)
    check_eav_checkpoint(ckpt)
    config = model.config
    classes = tuple(str(c) for c in ckpt["classes"])
    if len(classes) != config.n_classes:
        raise ValueError(
            f"checkpoint lists {len(classes)} classes {classes}, the model has "
            f"{config.n_classes} outputs"
        )
    shapes = input_shapes(config)
    if data_root is not None:
        say(f"loading calibration/held-out windows from {data_root}")
        calibration, held = eav_inputs_from_folder(data_root, ckpt["data_config"], shapes)
        calibration, held = calibration.at_most(n_calibration), held.at_most(n_heldout)
    else:
        calibration = EAVInputs(synthetic_inputs(shapes, n_calibration, seed), None, SYNTHETIC)
        held = EAVInputs(synthetic_inputs(shapes, n_heldout, seed + 1), None, SYNTHETIC)
    staged = stage_bundle(out_dir, force=options.force)
    out = staged.path

    say("exporting ONNX (fp32, dynamic batch)")
    example = synthetic_inputs(shapes, 2, seed=seed + 2, missing_fraction=0.0)
    example["mask"][1, 1] = 0.0  # trace the masked path too
    example = {k: torch.from_numpy(v) for k, v in example.items()}
    from edge_emotion.export.onnx_export import (
        EXPORTER,
        check_dynamic_batch,
        compare_feeds_with_torch,
        export_graph,
        graph_io,
    )
    from edge_emotion.export.parity import compare_classes, onnx_markdown, run_onnx_feeds

    fp32 = export_graph(model, example, out / FILE_FP32)
    names = [name for name, _ in graph_io(fp32)["inputs"]]
    if names != list(EAV_INPUTS):
        raise ValueError(
            f"the exported graph has inputs {names}, expected {list(EAV_INPUTS)}; the "
            "runtime feeds all four, so a graph without one of them cannot be served"
        )
    check_dynamic_batch(fp32)
    heldout = held.feeds
    onnx_check = compare_feeds_with_torch(model, fp32, heldout)
    with torch.inference_mode():
        torch_logits = np.concatenate(
            [
                model(*(torch.from_numpy(v[i : i + 64]) for v in heldout.values())).numpy()
                for i in range(0, len(held), 64)
            ]
        )
    fp32_logits = run_onnx_feeds(fp32, heldout, batch=64)

    name, dataset, synthetic, demo = bundle_identity(ckpt, options, out)
    report: dict[str, Any] = {
        "bundle_name": name,
        "kind": KIND_EAV,
        "demo": demo,
        "data": {
            "calibration": {"n": len(calibration), "source": calibration.source},
            "heldout": {
                "n": len(held),
                "source": held.source,
                "labelled": held.labels is not None,
                "rows_with_a_hidden_modality": int((heldout["mask"] < 0.5).any(axis=1).sum()),
            },
        },
        "onnx_vs_torch": {
            "exporter": EXPORTER,
            "opset": onnx_check.opset,
            "max_abs_diff_by_batch": {str(k): v for k, v in onnx_check.max_abs_diff.items()},
            "heldout_max_abs_diff": float(np.max(np.abs(fp32_logits - torch_logits))),
            "heldout_decision_agreement": compare_classes(torch_logits, fp32_logits, classes)[
                "decision_agreement"
            ],
        },
    }
    if data_root is None:
        report["data"]["calibration"]["seed"] = seed
        report["data"]["heldout"]["seed"] = seed + 1
    files = {FILE_FP32: ROLE_ONNX_FP32}

    say(f"quantising to INT8 Q/DQ (calibration: {len(calibration)} inputs)")
    report["int8"] = _try_int8(
        fp32, out / FILE_INT8, calibration, options, held, fp32_logits, classes
    )
    if report["int8"]["shipped"]:
        files[FILE_INT8] = ROLE_ONNX_INT8
    if options.fp16:
        from edge_emotion.export.quantize import convert_fp16

        say("converting to FP16")
        convert_fp16(fp32, out / FILE_FP16)
        fp16_logits = run_onnx_feeds(out / FILE_FP16, heldout, batch=64)
        report["fp16_vs_fp32"] = compare_classes(fp32_logits, fp16_logits, classes, held.labels)
        files[FILE_FP16] = ROLE_ONNX_FP16
    if options.include_torch_state:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / FILE_TORCH)
        files[FILE_TORCH] = ROLE_TORCH_STATE
    files.update(write_parity_report(out, report, eav_parity_markdown(report, onnx_markdown)))

    data_config = dict(ckpt["data_config"])
    manifest = {
        "schema": SCHEMA,
        "kind": KIND_EAV,
        "name": name,
        "demo": demo,
        "synthetic": synthetic,
        "dataset": dataset,
        "classes": list(classes),
        "model": {
            "family": "eav-fusion (arXiv 2411.00822)",
            "modalities": list(config.modalities),
            "fusion": config.fusion,
            "config": ckpt["model_config"],
            "checkpoint_format": ckpt["format"],
        },
        "preprocessing": data_config,
        "inputs": [
            {
                "name": "eeg",
                "shape": [BATCH_DIM, *shapes["eeg"]],
                "dtype": "float32",
                "layout": "channels, samples",
                "preprocessing": (
                    f"resampled to {data_config.get('eeg_target_fs')} Hz, zero-phase band-pass "
                    f"{data_config.get('eeg_band')} Hz, {data_config.get('window_s')} s "
                    "windows, z-scored per window and channel"
                ),
            },
            {
                "name": "audio",
                "shape": [BATCH_DIM, *shapes["audio"]],
                "dtype": "float32",
                "layout": "n_mels, frames",
                "preprocessing": (
                    f"log-mel (dB) at {data_config.get('audio_sr')} Hz, "
                    f"{data_config.get('mel_win_ms')} ms window, {data_config.get('mel_hop_ms')} "
                    "ms hop, standardised per window"
                ),
            },
            {
                "name": "video",
                "shape": [BATCH_DIM, *shapes["video"]],
                "dtype": "float32",
                "layout": "frames, RGB, height, width",
                "preprocessing": "evenly spaced frames per window, RGB uint8 / 255 -> [0, 1]",
            },
            {
                "name": "mask",
                "shape": [BATCH_DIM, len(MODALITIES)],
                "dtype": "float32",
                "layout": "eeg, audio, video",
                "preprocessing": "1 where the modality is present, 0 where missing "
                "(zero its input)",
            },
        ],
        "outputs": [
            {
                "name": OUTPUT_LOGITS,
                "shape": [BATCH_DIM, len(classes)],
                "dtype": "float32",
                "activation": "softmax -> class probabilities; decision = argmax",
            }
        ],
        "metrics": ckpt.get("metrics") or {},
        "onnx": {"opset": onnx_check.opset, "exporter": EXPORTER, "dynamic_axes": [BATCH_DIM]},
        "quantization": report["int8"].get("qdq_manifest")
        or {"shipped": False, "reason": report["int8"]["reason"]},
        "parity": {
            "onnx_max_abs_diff": max(
                report["onnx_vs_torch"]["heldout_max_abs_diff"], onnx_check.worst
            ),
            "int8_decision_agreement": (report["int8"].get("vs_fp32") or {}).get(
                "decision_agreement"
            ),
            "int8_shipped": report["int8"]["shipped"],
        },
        "versions": export_versions(ckpt),
    }
    written = write_manifest(out, manifest, files)
    load_eav_bundle(out)  # the new bundle verifies before it replaces anything
    out = staged.commit(say)
    manifest = load_eav_bundle(out)
    written = [out / p.name for p in written]
    return EAVExportResult(manifest=manifest, report=report, written=written)


def _try_int8(
    fp32: Path,
    dst: Path,
    calibration: EAVInputs,
    options: ExportOptions,
    held: EAVInputs,
    fp32_logits: np.ndarray,
    classes: tuple[str, ...],
) -> dict[str, Any]:
    """Quantise, compare with fp32 and decide whether the INT8 graph ships."""
    from edge_emotion.export.parity import compare_classes, run_onnx_feeds
    from edge_emotion.export.quantize import QUANTIZED_OP_TYPES, FeedsCalibrationReader
    from edge_emotion.export.quantize import quantize_int8 as quantize

    result: dict[str, Any] = {"calibration_data": calibration.source}
    try:
        qdq = quantize(
            fp32,
            dst,
            FeedsCalibrationReader(calibration.feeds, options.calibration_batch),
            method=options.calibration_method,
            weighted_nodes_only=True,
        )
        int8_logits = run_onnx_feeds(dst, held.feeds, batch=64)
    except Exception as exc:  # any failure means: ship fp32 only, and say why
        dst.unlink(missing_ok=True)
        reason = f"INT8 quantisation failed: {type(exc).__name__}: {exc}"
        return {**result, "shipped": False, "reason": reason}
    vs = compare_classes(fp32_logits, int8_logits, classes, held.labels)
    result.update(qdq=qdq.to_dict(), vs_fp32=vs)
    if not vs["meets_goal"]:
        dst.unlink(missing_ok=True)
        reason = (
            f"INT8 argmax agrees with fp32 on {vs['decision_agreement']:.2%} of "
            f"{vs['n']} held-out inputs, below the {vs['goal']:.0%} goal; fp32 only"
        )
        return {**result, "shipped": False, "reason": reason}
    result["shipped"] = True
    result["qdq_manifest"] = {
        "shipped": True,
        "format": "QDQ",
        "activations": "int8, symmetric (zero-point 0), per-tensor",
        "weights": "int8, symmetric (zero-point 0), per-channel",
        "quantized_nodes": "Conv/Gemm/MatMul with a constant weight; attention products fp32",
        "quantized_op_types": list(QUANTIZED_OP_TYPES),
        "calibration_method": qdq.calibration,
        "calibration": {"n": len(calibration), "source": calibration.source},
    }
    return result


def eav_parity_markdown(report: dict[str, Any], onnx_markdown) -> str:
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
    """Validate an EAV bundle folder and return its manifest (no torch, no onnx needed).

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
    if names != list(EAV_INPUTS):
        problems.append(f"inputs must be {list(EAV_INPUTS)}, got {names}")
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
    _check_files(path, manifest["files"], problems)
    if problems:
        raise BundleError(path, problems)
    return manifest
