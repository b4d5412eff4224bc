"""Command-line options the training commands share: the ``TrainConfig`` group, the output
folder (``--out``) of the data generators, and renamed options that still accept their old
spelling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_emotion.training.loop import TrainConfig


def add_train_args(p: argparse.ArgumentParser, *, batch_size: int = 128, lr: float = 2e-3) -> None:
    """The ``TrainConfig`` options (read back by :func:`train_config_from_args`); the
    families' commands differ only in the defaults passed here."""
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=30, help="passes over the training windows")
    g.add_argument("--batch-size", type=int, default=batch_size, help="windows per step")
    g.add_argument("--lr", type=float, default=lr, help="AdamW learning rate")
    g.add_argument("--weight-decay", type=float, default=1e-3, help="AdamW weight decay")
    g.add_argument(
        "--seed", type=int, default=0, help="seed of splits, initialisation and batch order"
    )
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on CUDA")
    g.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch default); small models on a shared CPU run faster on 1",
    )


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
        num_threads=args.threads,
    )


def add_out_arg(p: argparse.ArgumentParser, what: str) -> None:
    """``--out DIR``, the output folder of every command; a folder given as the first
    positional argument (the older form of ``synth``) is read by :func:`resolve_out`."""
    p.add_argument("--out", help=f"{what} (required)")
    p.add_argument("legacy_out", nargs="?", metavar="OUT", help=argparse.SUPPRESS)


def resolve_out(args: argparse.Namespace) -> str:
    """The ``--out`` of :func:`add_out_arg`; the positional form still works, with a note."""
    if args.legacy_out is not None and args.out is not None:
        raise ValueError(f"give the output folder once: --out {args.out} or {args.legacy_out}")
    if args.legacy_out is not None:
        print(
            f"note: the positional OUT is deprecated; use --out {args.legacy_out}",
            file=sys.stderr,
        )
        return args.legacy_out
    if args.out is None:
        raise ValueError("the output folder is required: --out DIR")
    return args.out


class RenamedOption(argparse.Action):
    """Stores like ``store``; when the option is given by one of ``old`` names, says which
    name replaced it (the old spelling keeps working)."""

    def __init__(self, option_strings: Sequence[str], dest: str, old: Sequence[str] = (), **kw):
        super().__init__(option_strings, dest, **kw)
        self.old = tuple(old)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in self.old:
            print(
                f"note: {option_string} is deprecated; use {self.option_strings[0]}",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)
