"""``python -m edge_emotion.training evaluate``: score a trained model on other recordings.

``evaluate --checkpoint model.pt (or --bundle DIR) --data DIR [--labels FILE.csv] --out DIR``
computes the windows of the data with the model's own feature configuration (channels,
rates, bands, modalities) through the same feature path and cache as training, applies the
model's normalisation (and session baseline, when it was trained with one), and scores
its decisions against the labels; nothing is retrained.

- ``--checkpoint``: the torch model of an ``edge_emotion.checkpoint/1`` file (read with
  ``weights_only=True``).
- ``--bundle``: the bundle through the runtime's engine (``--backend``, onnxruntime's INT8
  graph by default): the numbers a device gives for the same windows.

Writes ``<out>/results.json`` (per target: accuracy, balanced accuracy, sensitivity,
specificity, precision, F1, the confusion matrix; per subject: windows and balanced
accuracy) and ``<out>/confusion.png``, and prints one line per target.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.figures import add_figure_args, figure_options_from_args
from edge_emotion.training.dataset_cli import add_data_args, describe_line, load_data

BUNDLE_BACKENDS = ("onnxruntime", "onnxruntime-fp32", "torch", "tensorrt")


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a trained checkpoint or bundle on other recordings (no retraining)",
        description=__doc__.splitlines()[0],
        epilog="example: %(prog)s --bundle bundles/maan --data recordings --labels "
        "recordings/labels.csv --out runs/eval",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="model.pt written by `train`")
    src.add_argument("--bundle", help="bundle folder written by `python -m edge_emotion.export`")
    add_data_args(p, features=False)
    p.add_argument("--out", required=True, help="folder for results.json and confusion.png")
    p.add_argument(
        "--backend",
        choices=BUNDLE_BACKENDS,
        default="onnxruntime",
        help="engine a --bundle runs on (default: onnxruntime, INT8)",
    )
    p.add_argument(
        "--baseline-scope",
        choices=("subject", "recording"),
        help="sessions of a session-baseline model (default: as in training)",
    )
    p.add_argument("--device", default="cpu", help="torch device of a --checkpoint")
    add_figure_args(p)
    p.set_defaults(run=cmd_evaluate)


class _Model:
    """What scoring needs of either source: features, normalisation, targets, a predictor."""

    def __init__(self, args: argparse.Namespace) -> None:
        if args.checkpoint:
            self._from_checkpoint(Path(args.checkpoint), args.device)
        else:
            self._from_bundle(Path(args.bundle), args.backend)

    def _from_checkpoint(self, path: Path, device: str) -> None:
        from edge_emotion.kernels.config import FeatureConfig
        from edge_emotion.normalization import Normalization
        from edge_emotion.training.checkpoint import load_checkpoint
        from edge_emotion.training.cv import normalized_tensors
        from edge_emotion.training.families import EEG_ECG
        from edge_emotion.training.loop import predict

        ckpt = load_checkpoint(path)
        if ckpt["format"] != EEG_ECG.checkpoint_format:
            raise ValueError(f"{path} holds a {ckpt['format']} checkpoint; evaluate scores EEG/ECG")
        fc = FeatureConfig.from_dict(ckpt["feature_config"])
        norm = Normalization.from_dict(
            ckpt["normalization"], len(fc.bands), len(fc.eeg_channels), fc.modalities
        )
        model = EEG_ECG.load_model(ckpt)
        self.source = f"checkpoint {path}"
        self.feature_config, self.normalization = fc, norm
        self.targets = tuple(ckpt["targets"])
        given = ckpt.get("thresholds") or {}
        self.thresholds = [float(given.get(t, 0.5)) for t in self.targets]
        self.scope = ((ckpt.get("dataset") or {}).get("session_baseline") or {}).get("scope")

        def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
            logits = predict(model, normalized_tensors(norm, inputs), device=device, amp=False)
            return 1.0 / (1.0 + np.exp(-logits.reshape(len(logits), -1)))

        self.predict = run

    def _from_bundle(self, path: Path, backend: str) -> None:
        from edge_emotion.bundle import load_bundle
        from edge_emotion.engines import create_engine

        bundle = load_bundle(path)
        engine = create_engine(bundle, backend)
        self.source = f"bundle {bundle.path} ({engine.name})"
        self.feature_config, self.normalization = bundle.feature_config, bundle.normalization
        self.targets = tuple(bundle.targets)
        self.thresholds = [bundle.thresholds[t] for t in self.targets]
        self.scope = ((bundle.manifest.get("dataset") or {}).get("session_baseline") or {}).get(
            "scope"
        )

        def run(inputs: dict[str, np.ndarray], batch: int = 256) -> np.ndarray:
            n = len(next(iter(inputs.values())))
            out = [
                engine.predict(
                    *(inputs[m][i : i + batch] if m in inputs else None for m in ("eeg", "ecg"))
                )
                for i in range(0, n, batch)
            ]
            return np.concatenate(out).astype(np.float64)

        self.predict = run


def cmd_evaluate(args: argparse.Namespace) -> int:
    from edge_emotion.training.metrics import multitarget_binary_metrics
    from edge_emotion.training.plots import plot_confusions

    t0 = time.perf_counter()
    model = _Model(args)
    fc, norm = model.feature_config, model.normalization
    scope = args.baseline_scope or model.scope or "subject"
    print(
        f"model: {model.source}; targets {', '.join(model.targets)}; inputs "
        f"{'+'.join(fc.modalities)}; normalisation {norm.mode}"
    )
    data = load_data(
        args, fc, channels_given=True, normalization=(norm.mode, norm.baseline_s, scope)
    )
    print(f"features: {data.cache} ({'reused' if data.cached else 'written'})")
    print(describe_line(data.info))
    arrays = data.arrays
    missing = [t for t in model.targets if t not in arrays.targets]
    if missing:
        raise ValueError(
            f"the model predicts {list(model.targets)}; the data's labels have "
            f"{list(arrays.targets)} (no column {missing})"
        )
    columns = [arrays.targets.index(t) for t in model.targets]
    y = data.labels[:, columns]
    probs = model.predict(arrays.inputs())
    metrics = multitarget_binary_metrics(y, probs, model.targets, model.thresholds)
    per_subject = _per_subject(arrays, y, probs, model.targets, model.thresholds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "model": model.source,
        "targets": list(model.targets),
        "thresholds": dict(zip(model.targets, model.thresholds, strict=True)),
        "feature_config": fc.to_dict(),
        "normalization_mode": norm.mode,
        "windows": len(arrays),
        "subjects": list(arrays.subject_names),
        "metrics": metrics,
        "per_subject": per_subject,
        "data": data.info,
        "feature_cache": str(data.cache),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    figures = plot_confusions(
        {"evaluate": {"summary": {t: {"confusion": metrics[t]["confusion"]} for t in metrics}}},
        out / "confusion.png",
        model.targets,
        title=f"Confusion on {len(arrays)} windows of {len(arrays.subject_names)} subjects",
        synthetic=arrays.synthetic,
        figure=figure_options_from_args(args),
    )
    for p in (out / "results.json", *figures):
        print(f"wrote {p}")
    for t in model.targets:
        m = metrics[t]
        print(
            f"{t}: accuracy {m['accuracy']:.3f}, balanced accuracy {m['balanced_accuracy']:.3f}, "
            f"sensitivity {m['sensitivity']:.3f}, specificity {m['specificity']:.3f}, "
            f"precision {m['precision']:.3f}, F1 {m['f1']:.3f} "
            f"({len(arrays)} windows, {len(arrays.subject_names)} subjects)"
        )
    return 0


def _per_subject(arrays, y, probs, targets, thresholds) -> dict[str, Any]:
    from edge_emotion.training.metrics import multitarget_binary_metrics

    out = {}
    for i, name in enumerate(arrays.subject_names):
        rows = arrays.subject == i
        if not rows.any():
            continue
        m = multitarget_binary_metrics(y[rows], probs[rows], targets, thresholds)
        out[name] = {
            "windows": int(rows.sum()),
            **{t: {"balanced_accuracy": m[t]["balanced_accuracy"]} for t in targets},
        }
    return out
