"""EAV experiments: unimodal baselines and the fusion ablation under two protocols.

Variants: ``eeg``, ``audio``, ``video`` (one encoder each), ``fusion`` (attention across
modality tokens) and ``fusion-concat`` ([CLS] vectors concatenated into one linear layer,
the reference code's dense-layer fusion). Protocols (``EAV_FUSION.protocols``):
``per-subject`` (the paper's: one model per participant, the first half of each class's
trials for training, the rest for testing) and ``subject`` (leave-subjects-out folds).
:func:`run_experiment` trains every variant on the same splits, evaluates each fusion model
with one modality missing, and writes ``results.json``, the report and figures
(:mod:`.eav_report`) and a checkpoint per variant (last split); under ``torchrun`` every
rank trains its share of each epoch and rank 0 writes.

Training uses the package's generic loop (:func:`edge_emotion.training.loop.fit`) and metrics
(:func:`edge_emotion.training.metrics.multiclass_metrics`, ``summarize_folds``); the command
line is :mod:`.eav_cli`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_emotion.figures import FigureOptions
from edge_emotion.training.checkpoint import save_checkpoint
from edge_emotion.training.cv import subject_folds
from edge_emotion.training.datasets.eav_cache import EAVWindows
from edge_emotion.training.datasets.eav_layout import EMOTIONS, MODALITIES
from edge_emotion.training.datasets.eav_loader import EAVData
from edge_emotion.training.datasets.eav_preprocess import EAVConfig
from edge_emotion.training.eav_report import report_markdown, write_figures
from edge_emotion.training.families import EAV_FUSION
from edge_emotion.training.loop import (
    TrainConfig,
    fit,
    is_main_process,
    multiclass_loss,
    predict,
)
from edge_emotion.training.metrics import multiclass_metrics, summarize_folds
from edge_emotion.training.models.eav_fusion import (
    EAVModelConfig,
    build_eav_model,
    model_config_for_data,
    preset,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "eeg": {"modalities": ("eeg",)},
    "audio": {"modalities": ("audio",)},
    "video": {"modalities": ("video",)},
    "fusion": {"modalities": MODALITIES, "fusion": "attention"},
    "fusion-concat": {"modalities": MODALITIES, "fusion": "concat_linear"},
}


@dataclass(frozen=True)
class EAVExperimentConfig:
    """protocol: ``per-subject`` (paper) or ``subject`` (leave-subjects-out, ``n_folds``);
    train_fraction: share of each class's trials used for training in ``per-subject``."""

    protocol: str = "per-subject"
    variants: tuple[str, ...] = tuple(VARIANTS)
    train_fraction: float = 0.5
    n_folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        protocols = EAV_FUSION.protocols
        if self.protocol not in protocols:
            raise ValueError(f"protocol must be one of {protocols}, got {self.protocol!r}")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"variants must be names from {tuple(VARIANTS)}, got {bad}")
        if not 0 < self.train_fraction < 1:
            raise ValueError("train_fraction must be in (0, 1)")


# --------------------------------------------------------------------------- splits


def per_subject_splits(
    data: EAVData | EAVWindows, train_fraction: float = 0.5
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The paper's protocol: per participant and class, the first ``train_fraction`` of the
    trials (in recording order) train, the rest test. Windows of one trial never straddle the
    split. Returns ``[(name, train_idx, test_idx), ...]`` one per participant."""
    out = []
    for s in np.unique(data.subject):
        train, test = [], []
        for c in np.unique(data.label[data.subject == s]):
            sel = (data.subject == s) & (data.label == c)
            trials = np.unique(data.trial[sel])
            k = int(np.ceil(train_fraction * trials.size))
            if trials.size > 1:
                k = min(max(k, 1), trials.size - 1)
            tr = np.isin(data.trial, trials[:k]) & sel
            train.append(np.flatnonzero(tr))
            test.append(np.flatnonzero(sel & ~tr))
        out.append((f"subject{int(s):02d}", np.concatenate(train), np.concatenate(test)))
    return out


def make_splits(
    data: EAVData | EAVWindows, config: EAVExperimentConfig
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if config.protocol == "per-subject":
        return per_subject_splits(data, config.train_fraction)
    folds = subject_folds(data.subject, config.n_folds, config.seed)
    return [(f"fold{k}", tr, te) for k, (tr, te) in enumerate(folds)]


# --------------------------------------------------------------------------- train / evaluate


def variant_config(variant: str, base: EAVModelConfig) -> EAVModelConfig:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    cfg = replace(base, **VARIANTS[variant])
    # initialisation files only for the encoders this variant has
    return replace(
        cfg, pretrained={m: p for m, p in base.pretrained.items() if m in cfg.modalities}
    )


class WindowBatches:
    """Rows ``idx`` of in-memory (:class:`EAVData`) or cached (:class:`EAVWindows`) windows as a
    :class:`~edge_emotion.training.loop.BatchSource`: ``take`` reads only the batch asked for and
    returns (eeg, audio, video uint8, mask float[, label]) tensors, with the modalities in
    ``drop`` zeroed and masked (the missing-modality evaluation)."""

    def __init__(
        self,
        data: EAVData | EAVWindows,
        idx: np.ndarray,
        *,
        with_label: bool = False,
        drop: Sequence[str] = (),
    ) -> None:
        self.data, self.idx = data, np.asarray(idx, dtype=np.int64)
        self.with_label = with_label
        self.drop = [MODALITIES.index(m) for m in drop]

    def __len__(self) -> int:
        return int(self.idx.size)

    def take(self, pos: np.ndarray) -> list[torch.Tensor]:
        rows = self.idx[np.asarray(pos, dtype=np.int64)]
        d = self.data.take(rows)
        mask = d["mask"].astype(np.float32)
        arrays = [d["eeg"], d["audio"], d["video"]]
        for i in self.drop:
            mask[:, i] = 0.0
            arrays[i] = np.zeros_like(arrays[i])
        out = [torch.from_numpy(np.ascontiguousarray(a)) for a in (*arrays, mask)]
        if self.with_label:
            out.append(torch.from_numpy(self.data.label[rows]))
        return out


def model_inputs(data: EAVData | EAVWindows, idx: np.ndarray | None = None) -> list[torch.Tensor]:
    """(eeg, audio, video uint8, mask float) tensors in the model's argument order."""
    rows = np.arange(len(data)) if idx is None else np.asarray(idx)
    return WindowBatches(data, rows).take(np.arange(rows.size))


def train_and_evaluate(
    model_config: EAVModelConfig,
    data: EAVData | EAVWindows,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    train_config: TrainConfig,
    *,
    missing_modality: bool = False,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, Any]:
    """Train one model and evaluate it; returns metrics, history, timing and the model.

    Windows are read batch by batch (:class:`WindowBatches`), so cached paper-size data
    never has to fit in memory."""
    if train_idx.size == 0 or test_idx.size == 0:
        raise ValueError("train and test splits must both be non-empty")
    torch.manual_seed(train_config.seed)
    model = build_eav_model(model_config)
    train = WindowBatches(data, train_idx, with_label=True)
    x_test = WindowBatches(data, test_idx)
    y_test = data.label[test_idx]
    loss_fn = multiclass_loss()
    n_classes = model_config.n_classes

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        logits = predict(
            m,
            x_test,
            batch_size=train_config.batch_size,
            device=train_config.device,
            amp=train_config.amp,
        )
        return {
            "test_loss": float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y_test))),
            "test_accuracy": float(np.mean(logits.argmax(1) == y_test)),
        }

    result = fit(
        model,
        train,
        loss_fn,
        train_config,
        evaluate=evaluate,
        progress=progress,
        desc=desc,
    )
    logits = predict(
        model,
        x_test,
        batch_size=train_config.batch_size,
        device=train_config.device,
        amp=train_config.amp,
    )
    features = predict(
        model,
        x_test,
        batch_size=train_config.batch_size,
        device=train_config.device,
        method="features",
        amp=False,
    )
    out = {
        "metrics": multiclass_metrics(y_test, logits.argmax(1), n_classes),
        "test_features": features,
        "test_labels": y_test,
        "history": result["history"],
        "seconds": result["seconds"],
        "n_train": int(train_idx.size),
        "n_test": int(test_idx.size),
        "model": model,
    }
    if missing_modality and len(model_config.modalities) > 1:
        robust = {}
        for m in model_config.modalities:
            without = WindowBatches(data, test_idx, drop=[m])
            lg = predict(
                model, without, batch_size=train_config.batch_size, device=train_config.device
            )
            robust[f"without_{m}"] = float(np.mean(lg.argmax(1) == y_test))
        out["missing_modality_accuracy"] = robust
    return out


def run_experiment(
    data: EAVData | EAVWindows,
    data_config: EAVConfig,
    experiment: EAVExperimentConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    base_model: EAVModelConfig | None = None,
    dataset_info: dict | None = None,
    progress: bool = True,
    figure: FigureOptions | None = None,
) -> dict[str, Any]:
    """Every variant on the same splits; writes results.json, report.md, figures (in
    ``figure``'s formats), checkpoints.

    Under ``torchrun`` (a process group initialised, see :func:`main`) every rank trains its
    share of each epoch through the loop's DistributedDataParallel, all ranks compute the
    same evaluation, and only rank 0 writes files or prints.
    """
    out = Path(out_dir)
    writer = is_main_process()
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    base = model_config_for_data(data_config.shapes, base_model or preset("edge"))
    splits = make_splits(data, experiment)
    results: dict[str, Any] = {
        "protocol": experiment.protocol,
        "splits": [name for name, _, _ in splits],
        "dataset": dataset_info or {},
        "train_config": train_config.to_dict(),
        "data_config": data_config.to_dict(),
        "variants": {},
    }
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for variant in experiment.variants:
        cfg = variant_config(variant, base)
        folds, histories, robust = [], [], []
        t0 = time.perf_counter()
        for name, tr, te in splits:
            r = train_and_evaluate(
                cfg,
                data,
                tr,
                te,
                train_config,
                missing_modality=True,
                progress=progress,
                desc=f"{variant} {name}",
            )
            folds.append({"all": r["metrics"]})
            histories.append(r["history"])
            if "missing_modality_accuracy" in r:
                robust.append(r["missing_modality_accuracy"])
            model = r["model"]
            embed = (r["test_features"], r["test_labels"])
        summary = summarize_folds(folds)["all"]
        parameters, flops = EAV_FUSION.size(model, cfg)
        entry = {
            "model_config": cfg.to_dict(),
            "parameters": parameters,
            "flops_per_window": flops,
            "splits": [f["all"] for f in folds],
            "summary": summary,
            "histories": histories,
            "seconds": time.perf_counter() - t0,
        }
        embeddings[variant] = embed
        if robust:
            entry["missing_modality_accuracy"] = {
                k: float(np.mean([r[k] for r in robust])) for k in robust[0]
            }
        path = out / f"{variant}.pt"
        if writer:
            checkpoint = EAV_FUSION.make_checkpoint(
                model,
                cfg,
                metrics=summary,
                dataset=dataset_info or {},
                data_config=data_config.to_dict(),
                classes=list(EMOTIONS),
            )
            save_checkpoint(checkpoint, path)
        entry["checkpoint"] = str(path)
        results["variants"][variant] = entry
        if progress and writer:
            acc = summary["accuracy"]
            print(f"{variant:14s} accuracy {acc['mean']:.3f} ± {acc['std']:.3f}", file=sys.stderr)
    results["figures"] = []
    if not writer:
        return results
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "report.md").write_text(report_markdown(results))
    results["figures"] = [str(p) for p in write_figures(results, embeddings, out, figure)]
    return results


def model_size_table(presets: Sequence[str] = ("edge", "paper")) -> list[dict[str, Any]]:
    return list(model_sizes(presets))


def model_sizes(presets: Sequence[str] = ("edge", "paper")) -> Iterator[dict[str, Any]]:
    """Parameters and FLOPs per window of each variant of each preset, one row at a time
    (a paper-size model takes tens of seconds to build and count)."""
    for p in presets:
        for v in VARIANTS:
            cfg = variant_config(v, preset(p))
            parameters, flops = EAV_FUSION.size(build_eav_model(cfg), cfg)
            yield {"preset": p, "variant": v, "parameters": parameters, "flops_per_window": flops}
