"""The real-data benchmark: PhysioNet eegmat, rest (0) vs mental arithmetic (1).

Leave-subjects-out cross-validation (8 folds of 3 subjects, the same folds for every run)
through the training CLI, one ``cv`` run per input set:

==================  ==========================================  =====================
run                 inputs                                      models
==================  ==========================================  =====================
``eeg19-ecg``       19 EEG channels + ECG                        base, MAAN, logreg
``eeg19``           19 EEG channels                              base, logreg
``ecg``             ECG                                          base, logreg
``cyton8``          the OpenBCI Cyton's 8 positions              base, logreg
``cyton8-ecg``      the Cyton's 8 positions + ECG                base, MAAN, logreg
``*-baseline``      the same, each subject's session against     as above
                    its first 60 s (``--normalization
                    session_baseline``)
==================  ==========================================  =====================

Features: ``scripts/eegmat_features.json`` (EEG and ECG at 125 Hz — a Cyton+Daisy's rate,
half a Cyton's — bands theta 4-8, alpha 8-14, beta 14-31 Hz, hop 0.2 s). Training
settings are fixed here, before any test fold was seen (``TRAIN``), and the same for every
run. Each run's folder holds the CLI's ``table1.md``, ``results.json`` and figures;
``<out>/benchmark.md`` / ``.json`` gather balanced accuracy and F1 (mean ± SD over folds)
and the timings, ``<out>/eegmat_bacc.png`` the per-fold balanced accuracies.

Run: ``.venv/bin/python scripts/eegmat_benchmark.py [--data ../shared/data/eegmat]
[--out runs/eegmat] [--jobs 2] [--only eeg19-ecg,ecg]``; an interrupted run resumes (the
CLI resumes finished folds). About an hour on 2 CPU cores (README, "Real data: eegmat").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "eegmat"
LABELS = HERE / "eegmat_labels.csv"
FEATURES = HERE / "eegmat_features.json"
FOLDS = 8
# Fixed before looking at any test fold: the CLI's model defaults, 20 epochs of batches of
# 64 (about 2,100 training windows per fold: ~660 optimiser steps).
TRAIN = ["--epochs", "20", "--batch-size", "64", "--lr", "2e-3", "--seed", "0", "--threads", "1"]
RUNS: dict[str, tuple[list[str], str]] = {
    "eeg19-ecg": (["--modalities", "eeg,ecg"], "base,maan,logreg"),
    "eeg19": (["--modalities", "eeg"], "base,logreg"),
    "ecg": (["--modalities", "ecg"], "base,logreg"),
    "cyton8": (["--modalities", "eeg", "--eeg-channels", "cyton"], "base,logreg"),
    "cyton8-ecg": (["--modalities", "eeg,ecg", "--eeg-channels", "cyton"], "base,maan,logreg"),
}
BASELINE = ["--normalization", "session_baseline", "--baseline-s", "60"]
LABELS_OF = {"base": "base", "maan": "MAAN", "logreg": "logistic regression"}
INPUTS_OF = {
    "eeg19-ecg": "19 EEG + ECG",
    "eeg19": "19 EEG",
    "ecg": "ECG",
    "cyton8": "Cyton 8 EEG",
    "cyton8-ecg": "Cyton 8 EEG + ECG",
}


def runs() -> dict[str, tuple[list[str], str]]:
    """Every run: the input sets with global normalisation, then with the session baseline."""
    out = dict(RUNS)
    out.update({f"{k}-baseline": (v[0] + BASELINE, v[1]) for k, v in RUNS.items()})
    return out


def _cli(command: str, data: Path, cache: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edge_emotion.training",
        command,
        "--data",
        str(data),
        "--labels",
        str(LABELS),
        "--feature-config",
        str(FEATURES),
        "--cache-dir",
        str(cache),
        "--no-progress",
        "--workers",
        "1",
        *extra,
    ]


def _timed(cmd: list[str], log: Path) -> dict:
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"failed ({rc}): {' '.join(cmd)}; see {log}")
    return {"seconds": round(seconds, 1), "load_before": [round(x, 2) for x in load0]}


def run_one(name: str, spec: tuple[list[str], str], data: Path, out: Path) -> dict:
    """``prepare`` then ``cv`` of one run; their wall times and the host's load."""
    extra, models = spec
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    cache = out / "feature_cache"
    prepare = _timed(_cli("prepare", data, cache, extra), log)
    protocol = ["--protocol", "subject", "--folds", str(FOLDS), "--models", models]
    cv = _timed([*_cli("cv", data, cache, extra), *protocol, *TRAIN, "--out", str(folder)], log)
    print(f"{name}: prepare {prepare['seconds']} s, cv {cv['seconds']} s", flush=True)
    return {"prepare": prepare, "cv": cv}


def _cell(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def gather(out: Path, names: list[str], timings: dict) -> tuple[str, dict]:
    """The benchmark table (Markdown) and its JSON."""
    rows, payload = [], {}
    for name in names:
        path = out / name / "results.json"
        if not path.is_file():
            continue
        res = json.loads(path.read_text())
        base = name.removesuffix("-baseline")
        norm = "session baseline" if name.endswith("-baseline") else "global"
        windows = res["meta"]["segments"]
        for model, entry in res["models"].items():
            s = entry["summary"]["arousal"]
            rows.append(
                f"| {INPUTS_OF[base]} | {norm} | {LABELS_OF.get(model, model)} | {windows} | "
                f"{_cell(s['balanced_accuracy'])} | {_cell(s['f1'])} | {_cell(s['accuracy'])} |"
            )
            payload[f"{name}/{model}"] = {
                "inputs": INPUTS_OF[base],
                "normalization": norm,
                "model": model,
                "windows": windows,
                **{k: s[k] for k in ("balanced_accuracy", "f1", "accuracy")},
            }
    header = [
        "| inputs | normalisation | model | windows | balanced accuracy % | F1 % | accuracy % |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    md = "\n".join(header + rows) + "\n"
    if timings:
        md += "\nWall times on this machine (2 cores, shared; load average before each step):\n\n"
        md += "| run | prepare s | cv s | load before prepare |\n|---|---:|---:|---|\n"
        for name, t in timings.items():
            md += (
                f"| {name} | {t['prepare']['seconds']} | {t['cv']['seconds']} | "
                f"{' / '.join(map(str, t['prepare']['load_before']))} |\n"
            )
    return md, {"results": payload, "timings": timings}


def plot(out: Path, names: list[str]) -> Path | None:
    """Per-fold balanced accuracy of every model of every run (dots) and their means."""
    from edge_emotion.figures import pyplot, save_figure

    plt = pyplot()

    points = []
    for name in names:
        path = out / name / "results.json"
        if path.is_file():
            res = json.loads(path.read_text())
            for model, entry in res["models"].items():
                values = entry["summary"]["arousal"]["balanced_accuracy"]["values"]
                points.append((f"{name}\n{LABELS_OF.get(model, model)}", values))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(points)), 4.2))
    for i, (_, values) in enumerate(points):
        ax.scatter([i] * len(values), values, s=12, alpha=0.6, color="tab:blue")
        ax.plot([i - 0.3, i + 0.3], [sum(values) / len(values)] * 2, color="black", lw=2)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance (any constant answer)")
    ax.set_xticks(range(len(points)), [p[0] for p in points], rotation=90, fontsize=7)
    ax.set_ylabel("balanced accuracy (per fold)")
    ax.set_ylim(0, 1)
    ax.set_title(f"eegmat rest vs arithmetic, {FOLDS} leave-3-subjects-out folds", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, out / "eegmat_bacc.png")[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("runs/eegmat"))
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (one core each)")
    ap.add_argument("--only", help="comma-separated run names (default: all)")
    ap.add_argument("--table-only", action="store_true", help="gather finished runs only")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: {args.data} is not a folder (the eegmat recordings)", file=sys.stderr)
        return 2
    todo = runs()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(todo)
    unknown = [n for n in names if n not in todo]
    if unknown:
        print(f"error: unknown runs {unknown}; known: {', '.join(todo)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    timing_file = args.out / "timings.json"
    timings = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    if not args.table_only:
        # The first run alone, so that its times (the headline: prepare + cv of the full
        # model) are not shared with another run; then the others two at a time.
        first, rest = names[0], names[1:]
        timings[first] = run_one(first, todo[first], args.data, args.out)
        timing_file.write_text(json.dumps(timings, indent=1))
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            done = pool.map(lambda n: (n, run_one(n, todo[n], args.data, args.out)), rest)
            for name, t in done:
                timings[name] = t
                timing_file.write_text(json.dumps(timings, indent=1))
        timing_file.write_text(json.dumps(timings, indent=1))
    md, payload = gather(args.out, list(todo), timings)
    (args.out / "benchmark.md").write_text(md)
    (args.out / "benchmark.json").write_text(json.dumps(payload, indent=1))
    figure = plot(args.out, list(todo))
    print(md)
    for p in (args.out / "benchmark.md", args.out / "benchmark.json", figure):
        if p is not None:
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
