"""Train, evaluate and export the bundles the package ships, and the default demo recording.

    .venv/bin/python scripts/make_shipped_bundles.py [--data ../shared/data/eegmat]
        [--work runs/shipped] [--only ecg,cyton8-eeg] [--no-install]

Data: PhysioNet "EEG During Mental Arithmetic Tasks" (eegmat, ODC-By 1.0), subjects 00-23
(``scripts/eegmat_labels.csv``): ``_1`` rest (about 180 s, arousal 0), ``_2`` serial
subtraction (about 60 s, arousal 1). "Arousal" here is rest vs mental arithmetic, not an
emotion. ``DEMO_SUBJECT`` is held out of every bundle's training; the demo replays it.

For each bundle, the project's documented command lines:

1. ``python -m edge_emotion.training train --data D --labels <all but the demo subject>``
   with ``scripts/eegmat_features.json`` (125 Hz, theta/alpha/beta, hop 0.2 s), the CLI's
   default model family (MAAN) and sizes, the eegmat benchmark's training settings
   (``TRAIN``, fixed before any result was seen), ``--holdout 0``, and the label-free
   session baseline (each session against its first ``BASELINE_S`` s; the device does
   the same and abstains meanwhile);
2. ``python -m edge_emotion.training evaluate`` of the checkpoint on the held-out demo
   subject (its whole session);
3. ``python -m edge_emotion.export`` (fp32 + INT8 ONNX, parity report), with the
   single-modality bundles' checkpoints as ``--fallback`` models of the default bundle
   when this export has that option;
4. an ``about`` record added to each manifest: dataset, subjects, licence and
   attribution, what the target means, and the held-out numbers.

Then the demo recording (:mod:`edge_emotion.demo_recording`): the demo subject's last
``DEMO_REST_S`` s of rest then its first ``DEMO_TASK_S`` s of arithmetic, at the 8 Cyton
positions + ECG, resampled to 125 Hz by the runtime's resampler, int16 with a scale.

Features are cached in ``--work`` (default ``runs/shipped``): a second run skips the
feature extraction. Prints every file it writes.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))
from eegmat_attribution import ABOUT_DATASET, DEMO_SUBJECT  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "eegmat"
LABELS = SCRIPTS / "eegmat_labels.csv"
FEATURES = SCRIPTS / "eegmat_features.json"
BUNDLES_DIR = REPO / "edge_emotion" / "bundles"
BASELINE_S = 60.0
# The eegmat benchmark's settings (scripts/eegmat_benchmark.py TRAIN), fixed before any
# test fold was seen; the model family and sizes are the CLI's defaults.
TRAIN = ["--epochs", "20", "--batch-size", "64", "--lr", "2e-3", "--seed", "0", "--threads", "1"]
NORMALIZATION = ["--normalization", "session_baseline", "--baseline-s", f"{BASELINE_S:g}"]
# name -> (training options, what it takes, fallbacks by modality)
BUNDLES: dict[str, tuple[list[str], str, dict[str, str]]] = {
    "cyton8-eeg": (["--modalities", "eeg", "--eeg-channels", "cyton"], "EEG", {}),
    "ecg": (["--modalities", "ecg"], "ECG", {}),
    "cyton8-ecg": (
        ["--modalities", "eeg,ecg", "--eeg-channels", "cyton"],
        "EEG + ECG",
        {"eeg": "cyton8-eeg", "ecg": "ecg"},
    ),
}
MAX_BUNDLE_BYTES = 2 * 1024 * 1024  # per model folder (a fallback sub-bundle is one)


def run(cmd: list[str]) -> None:
    full = [sys.executable, "-m", *cmd]
    print("$", " ".join(full), flush=True)
    subprocess.run(full, cwd=REPO, check=True)


def split_labels(work: Path) -> tuple[Path, Path, list[str]]:
    """The labels table without the demo subject (training) and with it alone."""
    with open(LABELS, newline="") as f:
        rows = list(csv.DictReader(f))
    train, demo = work / "labels_train.csv", work / "labels_demo.csv"
    for path, keep in ((train, lambda r: r["subject"] != DEMO_SUBJECT),
                       (demo, lambda r: r["subject"] == DEMO_SUBJECT)):  # fmt: skip
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(r for r in rows if keep(r))
    subjects = sorted({r["subject"] for r in rows if r["subject"] != DEMO_SUBJECT})
    return train, demo, subjects


def export_supports_fallback() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "edge_emotion.export", "--help"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return "--fallback" in out


def about(
    name: str, inputs: str, subjects: list[str], held_out: dict, fallbacks: dict, family: str
) -> dict:
    """The manifest's ``about`` record: what the bundle was trained on and its numbers."""
    model_family = (
        f"{family}: the training CLI's default sizes; its default family is MAAN, which "
        "needs two modalities, so a one-modality model is the base model (MAAN's branches "
        "without the attention fusion)"
    )
    return {
        **ABOUT_DATASET,
        "bundle": name,
        "inputs": inputs,
        "training_subjects": subjects,
        "held_out_subject": DEMO_SUBJECT,
        "model_family": model_family,
        "normalization": f"session baseline: each session against its first {BASELINE_S:g} s "
        "of windows (label-free; the device abstains while it collects them)",
        "training": "python -m edge_emotion.training train " + " ".join(TRAIN) + " --holdout 0",
        "held_out_result": held_out,
        "fallbacks": fallbacks,
    }


def held_out_numbers(results: Path, source: str) -> dict:
    res = json.loads(results.read_text())
    a = res["metrics"]["arousal"]
    keys = ("balanced_accuracy", "accuracy", "f1", "sensitivity", "specificity", "confusion")
    return {"scored_by": source, "windows": res.get("windows"), **{k: a.get(k) for k in keys}}


def build_bundle(name: str, data: Path, work: Path, train_csv: Path, demo_csv: Path,
                 subjects: list[str], fallback_ok: bool) -> Path:  # fmt: skip
    options, inputs, fallbacks = BUNDLES[name]
    common = ["--data", str(data), "--cache-dir", str(work / "cache"), "--no-progress",
              "--workers", "1"]  # fmt: skip
    run_dir = work / f"train-{name}"
    if not (run_dir / "model.pt").is_file():
        run(["edge_emotion.training", "train", *common, "--labels", str(train_csv),
             "--feature-config", str(FEATURES), *options, *NORMALIZATION, *TRAIN,
             "--holdout", "0", "--out", str(run_dir)])  # fmt: skip
    eval_dir = work / f"eval-{name}"
    run(["edge_emotion.training", "evaluate", "--checkpoint", str(run_dir / "model.pt"),
         *common, "--labels", str(demo_csv), "--out", str(eval_dir)])  # fmt: skip
    bundle = work / f"bundle-{name}"
    if bundle.exists():
        shutil.rmtree(bundle)
    export = ["edge_emotion.export", str(run_dir / "model.pt"), "--out", str(bundle),
              "--name", f"eegmat-{name}", "--no-torch-state"]  # fmt: skip
    shipped_fallbacks = {}
    if fallbacks and fallback_ok:
        for modality, other in fallbacks.items():
            export += ["--fallback", f"{modality}={work / f'train-{other}' / 'model.pt'}"]
            shipped_fallbacks[modality] = other
    elif fallbacks:
        print(f"note: {name}: this export has no --fallback; the bundle ships without the "
              f"fallback models {fallbacks}", flush=True)  # fmt: skip
    run(export)
    eval_int8 = work / f"eval-{name}-int8"
    run(["edge_emotion.training", "evaluate", "--bundle", str(bundle), *common,
         "--labels", str(demo_csv), "--out", str(eval_int8)])  # fmt: skip
    held_out = {
        "checkpoint_fp32": held_out_numbers(eval_dir / "results.json", "torch checkpoint"),
        "bundle_int8": held_out_numbers(eval_int8 / "results.json", "bundle, onnxruntime INT8"),
    }
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    family = manifest["model"]["config"]["name"]
    manifest["about"] = about(name, inputs, subjects, held_out, shipped_fallbacks, family)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return bundle


def install(bundle: Path, name: str) -> Path:
    """Copy a built bundle into the package, after checking that it loads."""
    from edge_emotion.bundle import load_bundle

    load_bundle(bundle)
    target = BUNDLES_DIR / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(bundle, target)
    # The budget is per model: a bundle's fallback sub-bundles (fallback_<modality>/) each
    # hold a model of their own.
    for folder in sorted(m.parent for m in target.rglob("manifest.json")):
        total = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        if total > MAX_BUNDLE_BYTES:
            raise SystemExit(
                f"{folder} is {total} bytes, over the {MAX_BUNDLE_BYTES} byte budget of a model"
            )
    for f in sorted(target.rglob("*")):
        if f.is_file():
            print(f"wrote {f.relative_to(REPO)} ({f.stat().st_size / 1024:.0f} KiB)")
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the eegmat EDF folder")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "shipped",
                   help="runs, evaluations and the feature cache")  # fmt: skip
    p.add_argument("--only", default=",".join(BUNDLES), help="bundles to build (comma list)")
    p.add_argument("--no-install", action="store_true", help="leave the package untouched")
    p.add_argument("--no-demo", action="store_true", help="do not rewrite the demo recording")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if not (args.data / "Subject00_1.edf").is_file():
        raise SystemExit(f"{args.data}: the eegmat EDF files are not there (--data)")
    args.work.mkdir(parents=True, exist_ok=True)
    train_csv, demo_csv, subjects = split_labels(args.work)
    fallback_ok = export_supports_fallback()
    names = [n for n in BUNDLES if n in args.only.split(",")]
    for name in names:
        bundle = build_bundle(name, args.data, args.work, train_csv, demo_csv, subjects,
                              fallback_ok)  # fmt: skip
        if not args.no_install:
            install(bundle, name)
    if not args.no_demo and not args.no_install:
        from eegmat_attribution import write_demo_npz

        for path in write_demo_npz(args.data, REPO / "edge_emotion" / "demo_data"):
            print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
