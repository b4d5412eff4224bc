"""Host memory of the EAV paper-size inputs: the on-disk cache against the in-memory loader.

Measured once, by hand (not part of the test suite). Each phase runs in its own process and
prints its wall time and peak resident memory (``ru_maxrss``) as one JSON line:

    python scripts/eav_memory.py --data /tmp/eav-big --write --subjects 2 --trials 60
    python scripts/eav_memory.py --data /tmp/eav-big --work /tmp/eav-work

Phases: ``write`` (a synthetic set with release-size trials: 20 s, 640 x 480 video at 30 fps,
30-channel EEG at 500 Hz, 44.1 kHz audio), ``cache`` (decode into the cache with the paper's
input sizes), ``epoch`` (one training epoch read from the cache, on the paper's per-participant
split of the first participant: the first half of each class's trials train, the rest test;
``--model paper`` is the paper preset, ``edge`` its small widths on the same
paper-size inputs, ``--train-windows`` caps the windows trained on), ``in-memory`` (the same
windows through :func:`~edge_emotion.training.datasets.eav.load_eav`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PHASES = ("cache", "epoch", "in-memory")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _phase(args: argparse.Namespace) -> dict:
    from edge_emotion.training.datasets.eav_preprocess import paper_data_config

    config = paper_data_config()
    t0 = time.perf_counter()
    out: dict = {"phase": args.phase}
    if args.phase == "write":
        from edge_emotion.training.datasets.eav_synthetic import (
            SyntheticEAVConfig,
            write_synthetic_eav,
        )

        cfg = SyntheticEAVConfig(
            n_subjects=args.subjects,
            n_trials=args.trials,
            trial_s=20.0,
            eeg_fs=500.0,
            audio_sr=44100,
            video_fps=30,
            frame_size=480,
            seed=0,
        )
        write_synthetic_eav(args.data, cfg)
    elif args.phase == "cache":
        from edge_emotion.training.datasets.eav_cache import build_eav_cache

        data = build_eav_cache(args.data, args.work / "cache", config=config)
        out["windows"] = len(data)
        out["cache_mib"] = sum(p.stat().st_size for f in data.folders for p in f.iterdir()) / 2**20
    elif args.phase == "epoch":
        import torch

        from edge_emotion.training.datasets.eav_cache import build_eav_cache
        from edge_emotion.training.eav_experiment import (
            per_subject_splits,
            train_and_evaluate,
            variant_config,
        )
        from edge_emotion.training.loop import TrainConfig
        from edge_emotion.training.models.eav_fusion import model_config_for_data, preset

        torch.set_num_threads(args.threads)
        data = build_eav_cache(args.data, args.work / "cache", config=config)  # opens
        _, train, test = per_subject_splits(data)[0]
        train, test = train[: args.train_windows], test[: args.train_windows]
        cfg = variant_config("fusion", model_config_for_data(config.shapes, preset(args.model)))
        tc = TrainConfig(epochs=1, batch_size=args.batch_size, device="cpu", seed=0)
        r = train_and_evaluate(cfg, data, train, test, tc)
        out.update(
            model=args.model,
            train_windows=int(train.size),
            test_windows=int(test.size),
            train_seconds=r["seconds"],
            history=r["history"],
        )
    elif args.phase == "in-memory":
        from edge_emotion.training.datasets.eav_loader import load_eav

        data = load_eav(args.data, config=config)
        out["windows"] = len(data)
        out["arrays_mib"] = (
            sum(getattr(data, k).nbytes for k in ("eeg", "audio", "video", "mask")) / 2**20
        )
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mib"] = _peak_mib()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("eav-memory"))
    ap.add_argument("--write", action="store_true", help="write the synthetic set first")
    ap.add_argument("--subjects", type=int, default=2)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--model", choices=("edge", "paper"), default="edge")
    ap.add_argument("--train-windows", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase is not None:  # a child: one phase in this process
        print(json.dumps(_phase(args)), flush=True)
        return 0
    phases = (["write"] if args.write else []) + list(args.phases)
    for phase in phases:
        cmd = [sys.executable, __file__, "--phase", phase, *(argv or sys.argv[1:])]
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
