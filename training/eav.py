"""EAV experiments: unimodal baselines, fusion ablation, two protocols, reports.

``python -m edge_emotion.training eav --help`` (or ``python -m edge_emotion.training.eav``).
Subcommands:

- ``synth``: write a small synthetic EAV-layout set (``.mat``/``.wav``/``.mp4``);
- ``info``: parameters and FLOPs of each variant for the ``edge`` and ``paper`` presets;
- ``run``: load an EAV-layout folder, train/evaluate the variants (``eeg``, ``audio``,
  ``video``, ``fusion`` = attention across modality tokens, ``fusion-concat`` = [CLS] vectors
  concatenated into one linear layer, the reference code's dense-layer fusion) under
  ``--protocol per-subject`` (the paper's: one model per participant, the first half of each
  class's trials for training, the rest for testing) or ``subject`` (leave-subjects-out
  folds), write ``report.md``/``results.json``, confusion and curve and t-SNE PNGs
  (:mod:`edge_emotion.training.plots`), a checkpoint per variant (last fold) and the
  missing-modality evaluation; ``torchrun --nproc_per_node=N -m edge_emotion.training eav
  run ...`` trains with DistributedDataParallel, rank 0 writes.

A fusion checkpoint goes to ONNX (and INT8 where it agrees) through the export stage, like
every model: ``python -m edge_emotion.export runs/eav/fusion.pt --out bundles/eav``.

Training uses the package's generic loop (:func:`edge_emotion.training.loop.fit`) and metrics
(:func:`edge_emotion.training.metrics.multiclass_metrics`, ``summarize_folds``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_emotion.training.checkpoint import read_weights_only
from edge_emotion.training.cli import (
    add_train_args,
    setup_distributed,
    teardown_distributed,
    train_config_from_args,
)
from edge_emotion.training.cv import subject_folds
from edge_emotion.training.datasets.eav import (
    EMOTIONS,
    MODALITIES,
    EAVConfig,
    EAVData,
    paper_data_config,
)
from edge_emotion.training.datasets.eav_cache import EAVWindows, build_eav_cache
from edge_emotion.training.loop import (
    TrainConfig,
    fit,
    is_main_process,
    multiclass_loss,
    predict,
)
from edge_emotion.training.metrics import multiclass_metrics, summarize_folds
from edge_emotion.training.models.eav import (
    EAVModelConfig,
    build_eav_model,
    count_flops,
    count_parameters,
    example_inputs,
    model_config_for_data,
    preset,
)
from edge_emotion.training.plots import plot_confusions, plot_curves, plot_tsne
from edge_emotion.training.reports import SYNTHETIC_NOTE, markdown_table, mean_std_cell

VARIANTS: dict[str, dict[str, Any]] = {
    "eeg": {"modalities": ("eeg",)},
    "audio": {"modalities": ("audio",)},
    "video": {"modalities": ("video",)},
    "fusion": {"modalities": MODALITIES, "fusion": "attention"},
    "fusion-concat": {"modalities": MODALITIES, "fusion": "concat_linear"},
}
PROTOCOLS = ("per-subject", "subject")
CHECKPOINT_FORMAT = "edge_emotion.eav_checkpoint/1"


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
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
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


def make_checkpoint(
    model: torch.nn.Module,
    model_config: EAVModelConfig,
    data_config: EAVConfig,
    metrics: dict,
    dataset: dict,
) -> dict[str, Any]:
    """A ``torch.load(weights_only=True)``-loadable dict (plain containers and tensors)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": json.loads(json.dumps(model_config.to_dict())),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "data_config": json.loads(json.dumps(data_config.to_dict())),
        "classes": list(EMOTIONS),
        "metrics": json.loads(json.dumps(metrics)),
        "dataset": dict(dataset),
        "versions": {"torch": str(torch.__version__), "numpy": str(np.__version__)},
    }


def load_eav_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    path = Path(path)
    ckpt = read_weights_only(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    # the checkpoint's own weights replace any initialisation files named in its config
    config = replace(EAVModelConfig.from_dict(ckpt["model_config"]), pretrained={})
    model = build_eav_model(config)
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), ckpt


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
) -> dict[str, Any]:
    """Every variant on the same splits; writes results.json, report.md, PNGs, checkpoints.

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
        entry = {
            "model_config": cfg.to_dict(),
            "parameters": count_parameters(model),
            "flops_per_window": count_flops(model, example_inputs(cfg, 1)),
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
            torch.save(make_checkpoint(model, cfg, data_config, summary, dataset_info or {}), path)
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
    results["figures"] = [str(p) for p in write_figures(results, embeddings, out)]
    return results


# --------------------------------------------------------------------------- reports


def report_markdown(results: dict[str, Any]) -> str:
    """Accuracy and macro F1 (mean ± SD over splits, %), size, missing-modality accuracy."""
    ds = results.get("dataset", {})
    synthetic = bool(ds.get("synthetic"))
    splits = results["splits"]
    lines = [f"# EAV 5-class emotion recognition — protocol `{results['protocol']}`", ""]
    if synthetic:
        lines += [SYNTHETIC_NOTE, ""]
    lines += [
        f"Dataset: {ds.get('name', '?')} ({ds.get('subjects', '?')} participants, "
        f"{ds.get('windows', '?')} windows). Splits: {len(splits)} "
        f"({', '.join(splits[:6])}{', …' if len(splits) > 6 else ''}).",
        "",
    ]
    rows = []
    for name, v in results["variants"].items():
        s = v["summary"]
        mm = v.get("missing_modality_accuracy", {})
        rows.append(
            [
                name,
                mean_std_cell(s["accuracy"]),
                mean_std_cell(s["macro_f1"]),
                f"{v['parameters']:,}",
                f"{v['flops_per_window'] / 1e6:.1f} M",
                *(
                    f"{100 * mm[f'without_{m}']:.2f}" if f"without_{m}" in mm else "—"
                    for m in MODALITIES
                ),
            ]
        )
    header = ["Variant", "Acc", "Macro F1", "Parameters", "FLOPs / window"]
    lines += markdown_table(header + [f"Acc w/o {m}" for m in MODALITIES], rows)
    lines += [
        "",
        "Values: mean ± SD over splits, in %.",
        "`fusion`: tokens of every modality attend to each other (a fusion [CLS] reads them);",
        "`fusion-concat`: the modalities' [CLS] vectors concatenated into one linear layer",
        "(the dense-layer fusion of the reference code, nubcico/EAV).",
        "`Acc w/o X`: accuracy (mean over splits, %) of the same trained model with modality X",
        "zeroed and masked.",
        f"Classes: {', '.join(EMOTIONS)}.",
        "",
    ]
    return "\n".join(lines)


def write_figures(
    results: dict[str, Any], embeddings: dict[str, tuple[np.ndarray, np.ndarray]], out: Path
) -> list[Path]:
    """``confusion.png`` (summed over splits), ``curves.png`` and, with at least 5 test
    windows per variant, ``tsne.png`` (the paper's Fig. 2 for 5 classes, last split)."""
    variants = results["variants"]
    synthetic = bool(results.get("dataset", {}).get("synthetic"))
    protocol = results["protocol"]
    target = ("emotion",)
    paths = [
        plot_confusions(
            {n: {"summary": {"emotion": v["summary"]}} for n, v in variants.items()},
            out / "confusion.png",
            target,
            EMOTIONS,
            title=f"EAV confusion matrices summed over splits ({protocol}); "
            "colour: share of the true class",
            synthetic=synthetic,
        ),
        plot_curves(
            {n: {"folds": [{"history": h} for h in v["histories"]]} for n, v in variants.items()},
            out / "curves.png",
            "cross-entropy loss",
            chance=1 / len(EMOTIONS),
            title=f"EAV training curves ({protocol}; thin: splits, bold: mean)",
            synthetic=synthetic,
        ),
    ]
    if embeddings and min(len(e[1]) for e in embeddings.values()) >= 5:
        paths.append(
            plot_tsne(
                embeddings,
                out / "tsne.png",
                target,
                EMOTIONS,
                title="t-SNE of the features before the classifier (last split, test windows)",
                synthetic=synthetic,
            )
        )
    return paths


# --------------------------------------------------------------------------- ONNX


# --------------------------------------------------------------------------- CLI


def model_size_table(presets: Sequence[str] = ("edge", "paper")) -> list[dict[str, Any]]:
    rows = []
    for p in presets:
        for v in VARIANTS:
            cfg = variant_config(v, preset(p))
            model = build_eav_model(cfg)
            rows.append(
                {
                    "preset": p,
                    "variant": v,
                    "parameters": count_parameters(model),
                    "flops_per_window": count_flops(model, example_inputs(cfg, 1)),
                }
            )
    return rows


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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m edge_emotion.training eav",
        description="EEG + audio + video transformers on the EAV layout (arXiv 2411.00822).",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write a synthetic EAV-layout set (pipeline tests only)")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--subjects", type=int, default=4)
    s.add_argument(
        "--trials", type=_trials_per_participant, default=20, help="per participant, multiple of 10"
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="write into --out even if it holds files synth did not write (same names overwritten)",
    )
    s.add_argument("--trial-s", type=float, default=10.0)
    s.add_argument("--mat-version", choices=("v5", "v7.3"), default="v5")
    s.add_argument("--seed", type=int, default=0)

    i = sub.add_parser("info", help="parameters and FLOPs per variant and preset")
    i.add_argument("--presets", nargs="+", default=["edge", "paper"], choices=["edge", "paper"])

    r = sub.add_parser("run", help="train and evaluate variants on an EAV-layout folder")
    r.add_argument("--data", required=True, type=Path, help="folder holding subject1/ ...")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="decoded windows, memory-mapped (default: OUT/eav_cache; reuse it across runs)",
    )
    r.add_argument("--synthetic", action="store_true", help="data came from `synth` (tiny sizes)")
    r.add_argument("--subjects", type=int, nargs="*", default=None)
    r.add_argument("--protocol", choices=PROTOCOLS, default="per-subject")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--folds", type=int, default=5)
    r.add_argument("--train-fraction", type=float, default=0.5)
    r.add_argument("--preset", choices=["edge", "paper"], default="edge")
    r.add_argument(
        "--pretrained",
        nargs="*",
        default=[],
        metavar="MODALITY=PATH",
        help="initialise encoders from local files: a unimodal checkpoint (eeg=out/eeg.pt) or a "
        "downloaded Hugging Face AST / ViT checkpoint (audio=ast/model.safetensors, "
        "video=vit/model.safetensors; see training/models/eav_weights.py)",
    )
    add_train_args(r, batch_size=32, lr=1e-3)

    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "synth":
        from edge_emotion.out_dir import LEDGER_NAME, OwnedFolder
        from edge_emotion.training.datasets.eav_synthetic import (
            SyntheticEAVConfig,
            write_synthetic_eav,
        )

        try:
            cfg = SyntheticEAVConfig(
                n_subjects=args.subjects,
                n_trials=args.trials,
                trial_s=args.trial_s,
                mat_version=args.mat_version,
                seed=args.seed,
            )
            folder = OwnedFolder(args.out, "training eav synth", force=args.force)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        root = write_synthetic_eav(args.out, cfg)
        written = folder.record()
        print(
            f"wrote {cfg.n_subjects} synthetic participants x {cfg.n_trials} trials to {root} "
            f"({len(written)} files, listed in {root / LEDGER_NAME})"
        )
        return 0
    if args.command == "info":
        print(f"{'preset':7s} {'variant':14s} {'parameters':>12s} {'GFLOPs/window':>14s}")
        for row in model_size_table(args.presets):
            print(
                f"{row['preset']:7s} {row['variant']:14s} {row['parameters']:12,d} "
                f"{row['flops_per_window'] / 1e9:14.3f}"
            )
        return 0
    if args.command == "run":
        distributed = setup_distributed()
        try:
            return _cmd_run(args)
        finally:
            if distributed:
                teardown_distributed()
    return 2


def _cmd_run(args: argparse.Namespace) -> int:
    main_rank = is_main_process()
    if args.synthetic:
        from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig

        probe = next(iter(sorted(args.data.glob("subject*/EEG/*_eeg.mat"))), None)
        if probe is None:
            raise SystemExit(f"no subject<N>/EEG/*_eeg.mat under {args.data}")
        data_config = SyntheticEAVConfig(trial_s=_trial_s(probe)).loader_config()
    elif args.preset == "paper":
        data_config = paper_data_config()
    else:
        data_config = EAVConfig()
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
    pretrained = {}
    for item in args.pretrained:
        m, sep, path = item.partition("=")
        if not sep or m not in MODALITIES:
            raise SystemExit(f"--pretrained expects MODALITY=PATH with MODALITY in {MODALITIES}")
        pretrained[m] = path
    res = run_experiment(
        data,
        data_config,
        exp,
        tc,
        args.out,
        base_model=preset(args.preset, pretrained=pretrained),
        dataset_info=info,
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
    from edge_emotion.training.datasets.eav import read_mat_variable
    from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig

    seg = read_mat_variable(eeg_mat, ["seg1", "seg"])
    return seg.shape[0] / SyntheticEAVConfig().eeg_fs


if __name__ == "__main__":
    raise SystemExit(main())
