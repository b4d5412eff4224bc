"""``python -m edge_emotion.training eav ...``: the EEG + audio + video family's commands.

- ``synth``: write a small synthetic EAV-layout set (``.mat``/``.wav``/``.mp4``);
- ``info``: parameters and FLOPs of each variant for the ``edge`` and ``paper`` presets;
- ``run``: load an EAV-layout folder (decoded once into an on-disk cache), train and evaluate
  the variants (:mod:`.eav_experiment`), write ``report.md``/``results.json``, figures and
  one checkpoint per variant; ``torchrun --nproc_per_node=N -m edge_emotion.training eav
  run ...`` trains with DistributedDataParallel, rank 0 writes.

A fusion checkpoint goes to ONNX (and INT8 where it agrees) through the export stage, like
every model: ``python -m edge_emotion.export runs/eav/fusion.pt --out bundles/eav``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge_emotion.figures import add_figure_args, figure_options_from_args
from edge_emotion.training.cli_options import (
    add_out_arg,
    add_train_args,
    resolve_out,
    train_config_from_args,
)
from edge_emotion.training.families import EAV_FUSION

PRESETS = ("edge", "paper")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The ``eav`` subcommands, each with its handler (``args.run``)."""
    from edge_emotion.training.eav_experiment import VARIANTS

    s = sub.add_parser(
        "synth",
        help="write a synthetic EAV-layout set (pipeline tests only)",
        description="Write a small synthetic EAV-layout set (.mat EEG, .wav audio, .mp4 "
        "video; NOT emotion data) for pipeline checks.",
        epilog="example: %(prog)s --out /tmp/eav --subjects 6 --trials 20",
    )
    add_out_arg(s, "folder to write subject<N>/{EEG,Audio,Video} into")
    s.add_argument("--subjects", type=int, default=4, help="participants to generate")
    s.add_argument(
        "--trials", type=_trials_per_participant, default=20, help="per participant, multiple of 10"
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="write into --out even if it holds files synth did not write (same names overwritten)",
    )
    s.add_argument("--trial-s", type=float, default=10.0, help="length of each trial, s")
    s.add_argument(
        "--mat-version",
        choices=("v5", "v7.3"),
        default="v5",
        help="MATLAB file format of the EEG (v7.3 is HDF5)",
    )
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    s.set_defaults(run=cmd_synth)

    i = sub.add_parser(
        "info",
        help="parameters and FLOPs per variant and preset",
        description="Parameters and FLOPs per 5-s window of every variant, for each preset.",
        epilog="example: %(prog)s --presets edge",
    )
    i.add_argument(
        "--presets",
        nargs="+",
        default=list(PRESETS),
        choices=PRESETS,
        help="model sizes: edge (this project's) and/or paper (ViT-B/AST sizes, slow to count)",
    )
    i.set_defaults(run=cmd_info)

    r = sub.add_parser(
        "run",
        help="train and evaluate variants on an EAV-layout folder",
        description="Decode an EAV-layout folder once into a cache, train and evaluate the "
        "variants, write report.md, results.json, figures and one checkpoint per variant.",
        epilog="example: %(prog)s --data /tmp/eav --synthetic --out /tmp/eav-run "
        "--protocol subject --folds 3 --epochs 15",
    )
    r.add_argument("--data", required=True, type=Path, help="folder holding subject1/ ...")
    r.add_argument(
        "--out", required=True, type=Path, help="run folder (report, figures, checkpoints)"
    )
    r.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="decoded windows, memory-mapped (default: OUT/eav_cache; reuse it across runs)",
    )
    r.add_argument("--synthetic", action="store_true", help="data came from `synth` (tiny sizes)")
    r.add_argument(
        "--subjects", type=int, nargs="*", default=None, help="participant numbers (default: all)"
    )
    r.add_argument(
        "--protocol",
        choices=EAV_FUSION.protocols,
        default="per-subject",
        help="per-subject: the paper's split per participant; subject: hold out participants",
    )
    r.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="models to train",
    )
    r.add_argument("--folds", type=int, default=5, help="splits of --protocol subject")
    r.add_argument(
        "--train-fraction",
        type=float,
        default=0.5,
        help="per-subject: share of each class's trials used for training",
    )
    r.add_argument("--preset", choices=PRESETS, default="edge", help="model and input sizes")
    r.add_argument(
        "--pretrained",
        nargs="*",
        default=[],
        metavar="MODALITY=PATH",
        help="initialise encoders from local files: a unimodal checkpoint (eeg=out/eeg.pt) or a "
        "downloaded Hugging Face AST / ViT checkpoint (audio=ast/model.safetensors, "
        "video=vit/model.safetensors; see training/models/pretrained.py)",
    )
    add_train_args(r, batch_size=32, lr=1e-3)
    add_figure_args(r)
    r.set_defaults(run=cmd_run, distributed=True)


def _trials_per_participant(text: str) -> int:
    """argparse type of ``synth --trials``: a positive multiple of 10 (5 emotions x 2 tasks)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 10 or value % 10:
        raise argparse.ArgumentTypeError(
            f"must be a positive multiple of 10 (5 emotions x listening/speaking), got {value}"
        )
    return value


def cmd_synth(args: argparse.Namespace) -> int:
    from edge_emotion.out_dir import LEDGER_NAME, OwnedFolder
    from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig, write_synthetic_eav

    cfg = SyntheticEAVConfig(
        n_subjects=args.subjects,
        n_trials=args.trials,
        trial_s=args.trial_s,
        mat_version=args.mat_version,
        seed=args.seed,
    )
    out = Path(resolve_out(args))
    folder = OwnedFolder(out, "training eav synth", force=args.force)
    root = write_synthetic_eav(out, cfg)
    written = folder.record()
    print(
        f"wrote {cfg.n_subjects} synthetic participants x {cfg.n_trials} trials to {root} "
        f"({len(written)} files, listed in {root / LEDGER_NAME})"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from edge_emotion.training.eav_experiment import model_sizes

    print(
        "building each variant and counting its FLOPs (a paper-size model takes 10-60 s)...",
        file=sys.stderr,
        flush=True,
    )
    print(f"{'preset':7s} {'variant':14s} {'parameters':>12s} {'GFLOPs/window':>14s}")
    t0 = time.perf_counter()
    for row in model_sizes(args.presets):
        print(
            f"{row['preset']:7s} {row['variant']:14s} {row['parameters']:12,d} "
            f"{row['flops_per_window'] / 1e9:14.3f}",
            flush=True,
        )
    print(f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from edge_emotion.training.datasets.eav_cache import build_eav_cache
    from edge_emotion.training.datasets.eav_layout import MODALITIES
    from edge_emotion.training.datasets.eav_preprocess import EAVConfig, paper_data_config
    from edge_emotion.training.eav_experiment import EAVExperimentConfig, run_experiment
    from edge_emotion.training.loop import is_main_process
    from edge_emotion.training.models.eav_fusion import preset

    main_rank = is_main_process()
    if args.synthetic:
        from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig

        probe = next(iter(sorted(args.data.glob("subject*/EEG/*_eeg.mat"))), None)
        if probe is None:
            raise ValueError(f"no subject<N>/EEG/*_eeg.mat under {args.data}")
        data_config = SyntheticEAVConfig(trial_s=_trial_s(probe)).loader_config()
    elif args.preset == "paper":
        data_config = paper_data_config()
    else:
        data_config = EAVConfig()
    pretrained = {}
    for item in args.pretrained:
        m, sep, path = item.partition("=")
        if not sep or m not in MODALITIES:
            raise ValueError(f"--pretrained expects MODALITY=PATH with MODALITY in {MODALITIES}")
        pretrained[m] = path
    tc = train_config_from_args(args)
    t0 = time.perf_counter()
    cache_dir = args.cache_dir or args.out / "eav_cache"
    # rank 0 decodes; the other ranks then find every entry complete and only open them
    if main_rank:
        data = build_eav_cache(args.data, cache_dir, args.subjects, data_config, progress=True)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    if not main_rank:
        data = build_eav_cache(args.data, cache_dir, args.subjects, data_config)
    if main_rank:
        print(
            f"{len(data)} windows from {len(np.unique(data.subject))} participants ready in "
            f"{cache_dir} after {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    exp = EAVExperimentConfig(
        protocol=args.protocol,
        variants=tuple(args.variants),
        n_folds=args.folds,
        train_fraction=args.train_fraction,
        seed=args.seed,
    )
    info = {
        "name": "synthetic-eav" if args.synthetic else "EAV",
        "synthetic": bool(args.synthetic),
        "root": str(args.data),
        "subjects": len(np.unique(data.subject)),
        "windows": len(data),
    }
    res = run_experiment(
        data,
        data_config,
        exp,
        tc,
        args.out,
        base_model=preset(args.preset, pretrained=pretrained),
        dataset_info=info,
        figure=figure_options_from_args(args),
    )
    if not main_rank:
        return 0
    print((args.out / "report.md").read_text())
    for p in [args.out / "results.json", args.out / "report.md", *res["figures"]]:
        print(f"wrote {p}")
    for v in res["variants"].values():
        print(f"wrote {v['checkpoint']}")
    return 0


def _trial_s(eeg_mat: Path) -> float:
    from edge_emotion.training.datasets.eav_layout import read_mat_variable
    from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig

    seg = read_mat_variable(eeg_mat, ["seg1", "seg"])
    return seg.shape[0] / SyntheticEAVConfig().eeg_fs
