"""Regenerate the demo bundle shipped in ``edge_emotion/demo_bundle/``.

    python scripts/make_demo_bundle.py            # writes edge_emotion/demo_bundle/
    python scripts/make_demo_bundle.py --out DIR  # somewhere else

Three documented command lines, run in a temporary folder with fixed seeds:

1. ``python -m edge_emotion.training synth`` — a small synthetic AMIGOS-layout dataset
   (6 subjects x 8 trials; ECG/EEG with planted arousal/valence effects; NOT emotion data);
2. ``python -m edge_emotion.training train`` — a small MAAN (widths 8, hidden 32) on 4
   subjects, 2 held out, on the CPU with one thread (deterministic);
3. ``python -m edge_emotion.export --fp16 --demo`` — the bundle, calibrated on the
   training subjects, parity on the held-out ones.

The manifest says ``"demo": true, "synthetic": true``; the runtime prints that it is a
demo model. Its accuracies are pipeline checks on synthetic data, never emotion results.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "edge_emotion" / "demo_bundle"
MAX_BYTES = 2 * 1024 * 1024

SYNTH = ["--subjects", "6", "--trials", "8", "--min-s", "50", "--max-s", "70", "--seed", "0"]
TRAIN = [
    "--epochs", "15", "--seed", "0", "--threads", "1", "--holdout", "0.34",
    "--eeg-width", "8", "--ecg-width", "8", "--hidden", "32", "--depth", "2",
]  # fmt: skip


def run(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundle folder to (re)write")
    p.add_argument("--workers", default="1", help="feature extraction processes")
    p.add_argument("--work", type=Path, default=None, help="keep data/run/cache here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ee_demo_") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        run(["edge_emotion.training", "synth", "--out", str(work / "data"), *SYNTH,
             "--workers", args.workers], work)  # fmt: skip
        run(["edge_emotion.training", "train", "--data", str(work / "data"),
             "--cache-dir", str(work / "cache"), "--out", str(work / "run"),
             "--workers", args.workers, "--no-progress", *TRAIN], work)  # fmt: skip
        bundle = work / "bundle"
        run(["edge_emotion.export", str(work / "run" / "model.pt"), "--out", str(bundle),
             "--fp16", "--demo", "--name", "edge_emotion-demo"], work)  # fmt: skip
        total = sum(f.stat().st_size for f in bundle.iterdir())
        if total > MAX_BYTES:
            raise SystemExit(f"demo bundle is {total} bytes, over the {MAX_BYTES} byte budget")
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(bundle, args.out)
    from edge_emotion.bundle import load_bundle

    b = load_bundle(args.out)
    print(
        f"demo bundle: {args.out} ({total / 1024:.0f} KiB, targets {b.targets}, demo={b.is_demo})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
