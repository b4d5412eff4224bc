"""``python -m edge_emotion.export CHECKPOINT --out BUNDLE_DIR`` — write a model bundle.

The checkpoint's ``format`` picks the model family: ``edge_emotion.checkpoint/1`` (the
EEG+ECG model the Jetson runtime serves; :mod:`edge_emotion.export.bundle_writer`) or
``edge_emotion.eav_checkpoint/1`` (the EEG+audio+video fusion model;
:mod:`edge_emotion.export.eav`). Both go through the same ONNX, parity and manifest code.

Prints each step, the parity summary and the path of every file written. Exit status
1 with a one-line message for bad input (missing checkpoint, wrong format, feature
shapes that do not fit); never a traceback for those.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from edge_emotion.bundle import Normalization


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge_emotion.export",
        description=(
            "Export a trained checkpoint to a model bundle: model.onnx (fp32, dynamic batch), "
            "model.int8.onnx (Q/DQ, TensorRT-ready), manifest.json and a parity report "
            "(parity.json, parity.md). The checkpoint's format picks the model family: "
            "edge_emotion.checkpoint/1 (EEG+ECG, for the Jetson runtime) or "
            "edge_emotion.eav_checkpoint/1 (EEG+audio+video fusion; calibrated and checked "
            "on an EAV-layout folder or synthetic inputs, INT8 shipped only when its argmax "
            "agrees with fp32 on >= 99% of the held-out inputs)."
        ),
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint written by edge_emotion.training")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="bundle folder to write: new, empty, or (with --force) a bundle to replace",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the bundle already in --out (only a bundle this project wrote, intact; "
        "files it does not list are kept)",
    )
    p.add_argument(
        "--features",
        type=Path,
        default=None,
        help="features for calibration and parity: a training feature cache (.npz + .json, "
        "or its folder) or an NPZ with eeg, ecg[, labels, split] (default: the cache the "
        "checkpoint records; else draws from its normalisation statistics, unlabelled). "
        "EAV checkpoints: an EAV-layout folder (default: the dataset root the checkpoint "
        "records, if it exists; else synthetic inputs, unlabelled)",
    )
    p.add_argument(
        "--n-calibration",
        type=int,
        default=None,
        help="at most this many calibration windows, evenly spaced over the set (default "
        "2048; EAV: default 128)",
    )
    p.add_argument(
        "--n-heldout",
        type=int,
        default=None,
        help="at most this many held-out windows (default 4096; EAV: default 512)",
    )
    p.add_argument(
        "--calibration",
        choices=("percentile", "minmax", "entropy"),
        default="percentile",
        help="INT8 activation range estimate (percentile: 99.99th of |activation|)",
    )
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="EAV checkpoints: calibrate and check on synthetic inputs even when a dataset "
        "folder is known",
    )
    p.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx")
    p.add_argument("--no-torch-state", action="store_true", help="omit model.pt")
    p.add_argument("--demo", action="store_true", help="label the bundle a demo")
    p.add_argument("--name", default=None, help="bundle name in the manifest")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling/splitting features")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        from edge_emotion.export.bundle_writer import ExportOptions, check_checkpoint, export_bundle
        from edge_emotion.export.data import (
            features_from_training_cache,
            gaussian_features,
            is_training_cache,
            load_npz_features,
        )
        from edge_emotion.export.eav import is_eav_checkpoint
        from edge_emotion.kernels.config import FeatureConfig
        from edge_emotion.training.checkpoint import read_weights_only

        ckpt = read_weights_only(args.checkpoint)
        if is_eav_checkpoint(ckpt):
            return _main_eav(args, ckpt, t0)
        if args.synthetic:
            raise ValueError("--synthetic applies to EAV checkpoints")
        n_calibration = args.n_calibration or 2048
        n_heldout = args.n_heldout or 4096
        ckpt = check_checkpoint(ckpt)
        fc = FeatureConfig.from_dict(ckpt["feature_config"])
        cache = (ckpt.get("dataset") or {}).get("feature_cache")
        if args.features is not None and is_training_cache(args.features):
            calibration, heldout = features_from_training_cache(args.features, ckpt, args.seed)
        elif args.features is not None:
            calibration, heldout = load_npz_features(args.features)
        elif cache and is_training_cache(cache):
            calibration, heldout = features_from_training_cache(cache, ckpt, args.seed)
        else:
            norm = Normalization.from_dict(
                ckpt["normalization"], len(fc.bands), len(fc.eeg_channels)
            )
            calibration = gaussian_features(
                norm, fc.n_subwindows, fc.hrv_length, n_calibration, seed=args.seed
            )
            heldout = gaussian_features(
                norm, fc.n_subwindows, fc.hrv_length, n_heldout, seed=args.seed + 1
            )
        # Evenly spaced rows: calibration should see every subject/trial, not the first few.
        if len(calibration) > n_calibration:
            idx = np.linspace(0, len(calibration) - 1, n_calibration).round().astype(int)
            calibration = calibration.take(idx)
        if len(heldout) > n_heldout:
            idx = np.linspace(0, len(heldout) - 1, n_heldout).round().astype(int)
            heldout = heldout.take(idx)
        print(f"[export] calibration: {len(calibration)} windows from {calibration.source}")
        print(f"[export] held-out: {len(heldout)} windows from {heldout.source}")
        options = ExportOptions(
            fp16=args.fp16,
            include_torch_state=not args.no_torch_state,
            demo=True if args.demo else None,
            name=args.name,
            calibration_method=args.calibration,
            force=args.force,
        )
        result = export_bundle(
            ckpt,
            args.out,
            calibration,
            heldout,
            options,
            progress=lambda msg: print(f"[export] {msg}", flush=True),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rep = result.report
    i8 = rep["int8_vs_fp32"]
    print(
        f"[export] ONNX vs torch: max |Δlogit| {rep['onnx_vs_torch']['heldout_max_abs_diff']:.2e} "
        f"(opset {rep['onnx_vs_torch']['opset']})"
    )
    agree = ", ".join(f"{t} {v:.2%}" for t, v in i8["decision_agreement"].items())
    print(
        f"[export] INT8 vs fp32 on {i8['n']} held-out windows: decision agreement {agree} "
        f"({'meets' if i8['meets_goal'] else 'MISSES'} the 99% goal)"
    )
    if "accuracy_change" in i8:
        change = ", ".join(f"{t} {v:+.2%}" for t, v in i8["accuracy_change"].items())
        print(f"[export] INT8 accuracy change: {change}")
    if "fp16_vs_fp32" in rep:
        f16 = rep["fp16_vs_fp32"]
        agree = ", ".join(f"{t} {v:.2%}" for t, v in f16["decision_agreement"].items())
        print(f"[export] FP16 vs fp32: decision agreement {agree}")
    if result.bundle.is_demo:
        print("[export] labelled a DEMO bundle (synthetic training data)")
    for path in result.written:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"[export] done in {time.perf_counter() - t0:.1f} s")
    return 0


def _main_eav(args: argparse.Namespace, ckpt: dict, t0: float) -> int:
    """The EAV fusion family (see edge_emotion.export.eav); INT8 ships only if it agrees."""
    from edge_emotion.export.bundle_writer import ExportOptions
    from edge_emotion.export.eav import export_eav_bundle

    try:
        recorded = (ckpt.get("dataset") or {}).get("root")
        if args.synthetic and args.features is not None:
            raise ValueError("--synthetic and --features exclude each other")
        data_root = args.features
        known = isinstance(recorded, str) and Path(recorded).is_dir()
        if data_root is None and not args.synthetic and known:
            data_root = Path(recorded)
        options = ExportOptions(
            fp16=args.fp16,
            include_torch_state=not args.no_torch_state,
            demo=True if args.demo else None,
            name=args.name,
            calibration_method=args.calibration,
            force=args.force,
        )
        print("[export] EAV fusion checkpoint (EEG + audio + video)")
        result = export_eav_bundle(
            args.checkpoint,
            args.out,
            options,
            n_calibration=args.n_calibration or 128,
            n_heldout=args.n_heldout or 512,
            seed=args.seed,
            data_root=data_root,
            progress=lambda msg: print(f"[export] {msg}", flush=True),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rep = result.report
    cal = rep["data"]["calibration"]
    print(f"[export] calibration: {cal['n']} inputs from {cal['source']}")
    onnx_check = rep["onnx_vs_torch"]
    print(
        f"[export] ONNX vs torch: max |Δlogit| {onnx_check['heldout_max_abs_diff']:.2e}, argmax "
        f"agreement {onnx_check['heldout_decision_agreement']:.2%} on "
        f"{rep['data']['heldout']['n']} held-out inputs (opset {onnx_check['opset']})"
    )
    i8 = rep["int8"]
    if "vs_fp32" in i8:
        vs = i8["vs_fp32"]
        acc = (
            f", accuracy {vs['accuracy_reference']:.2%} -> {vs['accuracy']:.2%}"
            if "accuracy" in vs
            else ""
        )
        print(f"[export] INT8 vs fp32: argmax agreement {vs['decision_agreement']:.2%}{acc}")
    print(
        "[export] INT8 shipped (model.int8.onnx)"
        if i8["shipped"]
        else f"[export] INT8 not shipped: {i8['reason']}"
    )
    if "fp16_vs_fp32" in rep:
        print(
            "[export] FP16 vs fp32: argmax agreement "
            f"{rep['fp16_vs_fp32']['decision_agreement']:.2%}"
        )
    if result.manifest["demo"]:
        print("[export] labelled a DEMO bundle (synthetic training data)")
    print(
        "[export] note: an EAV bundle is not loadable by the Jetson EEG+ECG runtime "
        "(edge_emotion.export.eav.load_eav_bundle validates it)"
    )
    for path in result.written:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"[export] done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
