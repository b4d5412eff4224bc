"""Command-line options both model families' commands share: the ``TrainConfig`` group."""

from __future__ import annotations

import argparse

from edge_emotion.training.loop import TrainConfig


def add_train_args(p: argparse.ArgumentParser, *, batch_size: int = 128, lr: float = 2e-3) -> None:
    """The ``TrainConfig`` options (read back by :func:`train_config_from_args`); the
    families' commands differ only in the defaults passed here."""
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--batch-size", type=int, default=batch_size)
    g.add_argument("--lr", type=float, default=lr)
    g.add_argument("--weight-decay", type=float, default=1e-3)
    g.add_argument("--seed", type=int, default=0)
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
