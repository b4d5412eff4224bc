"""``python -m edge_emotion.training synth --out OUT``: a synthetic AMIGOS-layout dataset
(generated physiology, NOT emotion data) for pipeline checks; ``synth OUT`` (the folder as
a positional argument) still works and says it is deprecated."""

from __future__ import annotations

import argparse
import os
import time

from edge_emotion.training.cli_options import add_out_arg, resolve_out


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic AMIGOS-layout dataset (not emotion data)",
        description="Write a synthetic AMIGOS-layout dataset (generated physiology, NOT "
        "emotion data) for pipeline checks.",
        epilog="example: %(prog)s --out data/synth --subjects 40 --trials 16",
    )
    add_out_arg(p, "folder to write Data_Preprocessed_P##.mat files into")
    p.add_argument("--subjects", type=int, default=8, help="participants to generate")
    p.add_argument("--trials", type=int, default=16, help="trials per subject (<= 20)")
    p.add_argument("--min-s", type=float, default=50.0, help="shortest stimulus, s")
    p.add_argument("--max-s", type=float, default=120.0, help="longest stimulus, s")
    p.add_argument("--missing", type=float, default=0.05, help="share of trials stored empty")
    p.add_argument("--effect", type=float, default=1.0, help="strength of planted effects")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument(
        "--layout",
        choices=("flat", "per_participant"),
        default="flat",
        help="all files in OUT, or one folder per participant (both as AMIGOS ships)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, min(8, os.cpu_count() or 1)),
        help="parallel processes (default here: CPU count, at most 8)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into OUT even if it holds files synth did not write (same names overwritten)",
    )
    p.set_defaults(run=cmd_synth)


def cmd_synth(args) -> int:
    from edge_emotion.out_dir import OwnedFolder
    from edge_emotion.training.datasets.synthetic import SyntheticConfig, write_amigos_layout

    cfg = SyntheticConfig(
        n_subjects=args.subjects,
        n_trials=args.trials,
        min_trial_s=args.min_s,
        max_trial_s=args.max_s,
        missing_fraction=args.missing,
        effect=args.effect,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    out = resolve_out(args)
    folder = OwnedFolder(out, "training synth", force=args.force, label="--out")
    write_amigos_layout(cfg, out, args.layout, args.workers, progress=True)
    for p in folder.record():
        print(f"wrote {p}")
    print(
        f"synthetic AMIGOS-layout dataset: {cfg.n_subjects} subjects x {cfg.n_trials} trials "
        f"in {time.perf_counter() - t0:.1f} s (NOT emotion data)"
    )
    return 0
