"""``python -m edge_emotion.training``: both model families' commands under one parser.

- the EEG+ECG family (MAAN on AMIGOS-layout data, :mod:`.maan_cli`): ``synth``,
  ``prepare``, ``info``, ``train``, ``cv``;
- the EEG + audio + video family (:mod:`.eav_cli`): ``eav synth``, ``eav info``, ``eav run``.

Every command has ``--help``. ``train``, ``cv`` and ``eav run`` join a process group when
launched by ``torchrun --nproc_per_node=N -m edge_emotion.training ...`` (multi-GPU DDP).
Bad input ends with exit status 2 and a one-line ``error: ...`` naming it.
"""

from __future__ import annotations

import argparse
import sys

from edge_emotion.cli_help import HelpFormatter, apply_help_format, command_name
from edge_emotion.training import eav_cli, maan_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("edge_emotion.training"),
        description="Train and evaluate the MAAN arousal/valence model (Woo et al. 2023) and "
        "the EEG + audio + video transformers (EAV).",
        epilog="example: %(prog)s cv --data data/synth --folds 10 --out runs/cv10\n"
        "each command has --help: %(prog)s cv --help",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(distributed=False)
    sub = parser.add_subparsers(dest="command", required=True)
    maan_cli.add_commands(sub)
    eav = sub.add_parser(
        "eav",
        help="EEG + audio + video transformers on the EAV layout (see `eav --help`)",
        description="EEG + audio + video transformers on the EAV layout (arXiv 2411.00822).",
        epilog="example: %(prog)s run --data /tmp/eav --synthetic --out /tmp/eav-run\n"
        "each command has --help: %(prog)s run --help",
    )
    eav_cli.add_commands(eav.add_subparsers(dest="eav_command", required=True))
    return apply_help_format(parser)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edge_emotion.training.loop import setup_distributed, teardown_distributed

    distributed = args.distributed and setup_distributed()
    try:
        return args.run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if distributed:
            teardown_distributed()
