"""``python -m edge_emotion.export CHECKPOINT --out BUNDLE_DIR`` — write a model bundle.

The checkpoint's ``format`` picks the model family (:mod:`edge_emotion.training.families`):
``edge_emotion.checkpoint/1`` (the EEG+ECG model the Jetson runtime serves;
:mod:`edge_emotion.export.eeg_ecg_bundle`) or ``edge_emotion.eav_checkpoint/1`` (the
EEG+audio+video fusion model; :mod:`edge_emotion.export.eav_bundle`). Both go through the
one path of :func:`edge_emotion.export.bundle_writer.export_bundle`. ``--fallback
eeg=EEG.pt --fallback ecg=ECG.pt`` adds one-modality models of the EEG+ECG family, each
exported by the same steps into a sub-folder of the bundle (``fallback_eeg/``,
``fallback_ecg/``), which ``run --on-bad-modality fallback`` switches to.

Prints each step, the parity summary and the path of every file written. Exit status
1 with a one-line message for bad input (missing checkpoint, wrong format, feature
shapes that do not fit); never a traceback for those.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from edge_emotion.cli_help import HelpFormatter, command_name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=command_name("edge_emotion.export"),
        formatter_class=HelpFormatter,
        epilog="example: %(prog)s runs/maan/model.pt --out bundles/maan",
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
    p.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="MODALITY=CHECKPOINT",
        help="also export a one-modality model (trained with --modalities eeg or ecg) into "
        "the bundle's fallback_MODALITY/ folder, for run --on-bad-modality fallback; "
        "repeatable (eeg=EEG.pt and ecg=ECG.pt). Calibrated and checked on the features its "
        "checkpoint records, else draws from its normalisation statistics",
    )
    p.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx")
    p.add_argument("--no-torch-state", action="store_true", help="omit model.pt")
    p.add_argument("--demo", action="store_true", help="label the bundle a demo")
    p.add_argument("--name", default=None, help="bundle name in the manifest")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling/splitting features")
    p.add_argument(
        "--verbose", action="store_true", help="show the exporter's and quantiser's own output"
    )
    return p


def parse_fallbacks(values: list[str]) -> dict[str, Path]:
    """``--fallback MODALITY=CHECKPOINT`` values -> {modality: checkpoint path}; ``ValueError``
    for a value of another form, an unknown modality or a modality given twice."""
    found: dict[str, Path] = {}
    for value in values:
        modality, sep, path = value.partition("=")
        modality = modality.strip().lower()
        if not sep or not path or modality not in ("eeg", "ecg"):
            raise ValueError(
                f"--fallback {value!r}: expected MODALITY=CHECKPOINT with MODALITY eeg or ecg "
                "(e.g. --fallback eeg=runs/eeg/model.pt)"
            )
        if modality in found:
            raise ValueError(f"--fallback {modality} is given twice")
        found[modality] = Path(path)
    return found


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        logging.getLogger("edge_emotion").setLevel(logging.DEBUG)

    def say(msg: str) -> None:
        print(f"[export] {msg}", flush=True)

    try:
        from edge_emotion.export.bundle_content import ExportOptions
        from edge_emotion.export.bundle_writer import Fallback, content_for, export_bundle
        from edge_emotion.training.checkpoint import load_checkpoint

        fallback_paths = parse_fallbacks(args.fallback)
        content = content_for(load_checkpoint(args.checkpoint))
        if content.heading:
            say(content.heading)
        calibration, heldout = content.choose_inputs(
            args.features, args.synthetic, args.n_calibration, args.n_heldout, args.seed, say
        )
        say(f"calibration: {len(calibration)} {content.unit} from {calibration.source}")
        say(f"held-out: {len(heldout)} {content.unit} from {heldout.source}")
        options = ExportOptions(
            fp16=args.fp16,
            include_torch_state=not args.no_torch_state,
            demo=True if args.demo else None,
            name=args.name,
            calibration_method=args.calibration,
            force=args.force,
        )
        fallbacks = {}
        for modality, path in fallback_paths.items():
            fb_content = content_for(load_checkpoint(path))
            fb_cal, fb_held = fb_content.choose_inputs(
                None, False, args.n_calibration, args.n_heldout, args.seed, say
            )
            say(
                f"fallback {modality} ({path}): calibration {len(fb_cal)} from "
                f"{fb_cal.source}; held-out {len(fb_held)} from {fb_held.source}"
            )
            fallbacks[modality] = Fallback(fb_content, fb_cal, fb_held)
        result = export_bundle(
            content, args.out, calibration, heldout, options, progress=say, fallbacks=fallbacks
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in content.summary(result.report):
        say(line)
    for modality, report in result.fallback_reports.items():
        for line in fallbacks[modality].content.summary(report):
            say(f"fallback {modality}: {line}")
    if result.manifest["demo"]:
        say("labelled a DEMO bundle (synthetic training data)")
    for path in result.written:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
