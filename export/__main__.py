"""``python -m edge_emotion.export CHECKPOINT --out BUNDLE_DIR`` — write a model bundle.

Prints each step, the parity summary and the path of every file written. Exit status
1 with a one-line message for bad input (missing checkpoint, wrong format, feature
shapes that do not fit); never a traceback for those.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge_emotion.bundle import Normalization


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge_emotion.export",
        description=(
            "Export a trained checkpoint (edge_emotion.checkpoint/1) to a model bundle: "
            "model.onnx (fp32, dynamic batch), model.int8.onnx (Q/DQ, TensorRT-ready), "
            "manifest.json and a parity report (parity.json, parity.md)."
        ),
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint written by edge_emotion.training")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument(
        "--features",
        type=Path,
        default=None,
        help="NPZ with raw features eeg, ecg[, labels, split] for calibration and parity "
        "(default: draws from the checkpoint's normalisation statistics, unlabelled)",
    )
    p.add_argument("--n-calibration", type=int, default=512, help="windows for calibration")
    p.add_argument("--n-heldout", type=int, default=2048, help="windows for the parity check")
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
        from edge_emotion.export.data import gaussian_features, load_npz_features
        from edge_emotion.kernels.features import FeatureConfig

        if not args.checkpoint.is_file():
            raise ValueError(f"checkpoint {args.checkpoint} does not exist")
        import torch

        try:
            ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"{args.checkpoint} is not a weights-only torch checkpoint: {exc}"
            ) from None
        ckpt = check_checkpoint(ckpt)
        fc = FeatureConfig.from_dict(ckpt["feature_config"])
        if args.features is not None:
            calibration, heldout = load_npz_features(args.features)
        else:
            norm = Normalization.from_dict(
                ckpt["normalization"], len(fc.bands), len(fc.eeg_channels)
            )
            calibration = gaussian_features(
                norm, fc.n_subwindows, fc.hrv_length, args.n_calibration, seed=args.seed
            )
            heldout = gaussian_features(
                norm, fc.n_subwindows, fc.hrv_length, args.n_heldout, seed=args.seed + 1
            )
        if len(calibration) > args.n_calibration:
            calibration = calibration.take(slice(0, args.n_calibration))
        options = ExportOptions(
            fp16=args.fp16,
            include_torch_state=not args.no_torch_state,
            demo=True if args.demo else None,
            name=args.name,
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


if __name__ == "__main__":
    sys.exit(main())
