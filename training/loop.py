"""A model-agnostic training loop: tensors in, a model, a loss; resume, AMP, DDP.

A dataset is a tuple of tensors with the same first dimension: model inputs first, the
target last (``(eeg, ecg, labels)`` for MAAN; other models pass their own inputs). The
whole set is moved to the device once and batches are taken by index, which on a GPU is
much faster than a ``DataLoader`` for small feature tensors.

- Device: ``"auto"`` picks CUDA when present, else CPU. On CUDA the forward pass runs
  under bfloat16 autocast (no loss scaling needed); on CPU everything is float32 and,
  with ``deterministic=True``, bitwise reproducible for a given seed.
- Shuffling uses a generator seeded with ``(seed, epoch)``, so a resumed run sees the same
  batches as an uninterrupted one; dropout's RNG state is saved in the resume file.
- Resume: after every epoch the model, optimizer, scheduler, history and RNG state are
  written atomically to ``state_path`` (weights_only-loadable); ``fit`` continues from it.
- Data larger than memory: pass a :class:`BatchSource` (``len()`` and ``take(indices)``)
  instead of tensors; each batch is then read on demand and moved to the device alone.
- Multi-GPU: launch with ``torchrun``; when ``torch.distributed`` is initialised the model
  is wrapped in ``DistributedDataParallel`` and each rank takes its share of every epoch's
  permutation through ``DistributedSampler``. Only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from edge_emotion.training.checkpoint import atomic_save, read_weights_only

RESUME_FORMAT = "edge_emotion.resume/1"


@runtime_checkable
class BatchSource(Protocol):
    """A dataset read batch by batch: ``take(idx)`` returns the tensors of rows ``idx``
    (inputs first, for training the target last), on the CPU."""

    def __len__(self) -> int: ...

    def take(self, idx: np.ndarray) -> list[torch.Tensor]: ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (AdamW with cosine learning-rate decay).

    Attributes:
        epochs: passes over the training set.
        batch_size: segments per step (per process under DDP).
        lr: peak learning rate; weight_decay: AdamW decoupled weight decay.
        grad_clip: max global gradient norm (0 disables).
        seed: seeds weights, shuffling and dropout.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        deterministic: deterministic algorithms on the CPU (runs are then reproducible);
            CUDA runs are seeded but use the fastest (cuDNN autotuned) kernels.
        num_threads: CPU threads for torch (0: torch's default). On a small or shared CPU,
            1 is often fastest (small convolutions gain little from threads).
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-3
    grad_clip: float = 5.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    deterministic: bool = True
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> the current CUDA device if present (one per process under DDP), else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            # Under torchrun the CLI has already selected this process's GPU (LOCAL_RANK).
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed torch (numpy code here uses explicit generators); optionally deterministic kernels."""
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def setup_distributed() -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); True if joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def teardown_distributed() -> None:
    dist.destroy_process_group()


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _epoch_indices(n: int, seed: int, epoch: int) -> torch.Tensor:
    if dist.is_initialized():
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(n), shuffle=True, seed=seed, drop_last=False)
        sampler.set_epoch(epoch)
        return torch.tensor(list(iter(sampler)), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


def binary_loss(pos_weight: Sequence[float] | None = None) -> nn.Module:
    """BCE on logits for multi-target binary labels; ``pos_weight`` per target (n_neg/n_pos)."""
    pw = torch.tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
    module = nn.BCEWithLogitsLoss(pos_weight=pw)

    class _Binary(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.inner(logits.float(), target.float())

    return _Binary()


def multiclass_loss(label_smoothing: float = 0.0) -> nn.Module:
    """Cross-entropy on logits (B, classes) with integer targets (B,)."""

    class _Multi(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

        def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return self.inner(logits.float(), target.long())

    return _Multi()


def _to_device(tensors: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    n = tensors[0].shape[0]
    for i, t in enumerate(tensors):
        if t.shape[0] != n:
            raise ValueError(f"dataset tensor {i} has {t.shape[0]} rows, expected {n}")
    return [torch.as_tensor(t).to(device) for t in tensors]


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: Sequence[torch.Tensor | np.ndarray] | BatchSource,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    method: str = "forward",
    amp: bool = True,
) -> np.ndarray:
    """Run ``model`` (or ``model.<method>``, e.g. ``"embed"``) in eval mode; float32 numpy out."""
    device = resolve_device(device) if isinstance(device, str) else device
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    module = module.to(device)
    was_training = module.training
    module.eval()
    fn = module if method == "forward" else getattr(module, method)
    if isinstance(inputs, BatchSource):
        n = len(inputs)

        def rows(start: int) -> list[torch.Tensor]:
            return inputs.take(np.arange(start, min(start + batch_size, n)))
    else:
        tensors = [torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x) for x in inputs]
        n = tensors[0].shape[0]

        def rows(start: int) -> list[torch.Tensor]:
            return [t[start : start + batch_size] for t in tensors]

    outs = []
    for start in range(0, n, batch_size):
        batch = [t.to(device, non_blocking=True) for t in rows(start)]
        with _autocast(device, amp):
            outs.append(fn(*batch).float().cpu())
    module.train(was_training)
    if not outs:
        return np.zeros((0,), dtype=np.float32)
    return torch.cat(outs).numpy()


def fit(
    model: nn.Module,
    train: Sequence[torch.Tensor] | BatchSource,
    loss_fn: nn.Module,
    config: TrainConfig,
    *,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    state_path: str | os.PathLike | None = None,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, Any]:
    """Train ``model`` on ``train`` = (inputs..., target) tensors, moved to the device once, or
    a :class:`BatchSource` read batch by batch; returns ``{"history", "seconds", ...}``.

    ``evaluate(model)`` (optional) is called after every epoch in eval mode; its numbers
    go into the history for curves only. The model of the last epoch is kept (no
    selection on the evaluation data). ``model`` is trained in place.
    """
    device = resolve_device(config.device)
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    # Deterministic kernels only on the CPU: on CUDA they would slow the run (and some ops,
    # e.g. nearest-neighbour upsampling backward, have no deterministic CUDA kernel).
    seed_everything(config.seed, config.deterministic and device.type == "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model.to(device)
    streaming = isinstance(train, BatchSource)
    tensors = [] if streaming else _to_device(train, device)
    n = len(train) if streaming else tensors[0].shape[0]
    if n == 0:
        raise ValueError("training set is empty")
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(
        (math.ceil(n / dist.get_world_size()) if dist.is_initialized() else n) / config.batch_size
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    history: list[dict[str, float]] = []
    start_epoch = 0
    state_path = Path(state_path) if state_path else None
    if state_path is not None and state_path.is_file():
        state = read_weights_only(state_path, "resume state")
        if state.get("format") != RESUME_FORMAT:
            raise ValueError(f"{state_path} is not a {RESUME_FORMAT} file")
        if state.get("config") != config.to_dict():
            raise ValueError(
                f"{state_path} was written with a different TrainConfig ({state.get('config')}); "
                "delete it or use a new run folder"
            )
        model.load_state_dict(state["model_state"])
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        torch.set_rng_state(state["rng_cpu"])
    net: nn.Module = model
    if dist.is_initialized():
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    seen = 0
    t0 = time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(
        total=config.epochs,
        initial=start_epoch,
        desc=desc,
        unit="epoch",
        disable=not (progress and is_main_process()),
        leave=False,
    )
    for epoch in range(start_epoch, config.epochs):
        net.train()
        order = _epoch_indices(n, config.seed, epoch)
        order = order if streaming else order.to(device)
        total, count = torch.zeros((), device=device), 0
        for start in range(0, order.numel(), config.batch_size):
            idx = order[start : start + config.batch_size]
            if streaming:
                batch = [t.to(device, non_blocking=True) for t in train.take(idx.numpy())]
            else:
                batch = [t.index_select(0, idx) for t in tensors]
            with _autocast(device, config.amp):
                logits = net(*batch[:-1])
            loss = loss_fn(logits, batch[-1])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optim.step()
            sched.step()
            total += loss.detach() * idx.numel()
            count += idx.numel()
        seen += count
        record = {"epoch": epoch + 1, "train_loss": float(total.item() / max(count, 1))}
        if evaluate is not None:
            record.update({k: float(v) for k, v in evaluate(model).items()})
        history.append(record)
        if state_path is not None and is_main_process():
            atomic_save(
                {
                    "format": RESUME_FORMAT,
                    "epoch": epoch + 1,
                    "model_state": model.state_dict(),
                    "optimizer": optim.state_dict(),
                    "scheduler": sched.state_dict(),
                    "history": history,
                    "rng_cpu": torch.get_rng_state(),
                    "config": config.to_dict(),
                },
                state_path,
            )
        bar.set_postfix(loss=f"{record['train_loss']:.3f}")
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0
    return {
        "history": history,
        "seconds": seconds,
        "segments_seen": seen,
        "segments_per_second": seen / seconds if seconds > 0 and seen else float("nan"),
        "device": str(device),
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "resumed_from_epoch": start_epoch,
    }
