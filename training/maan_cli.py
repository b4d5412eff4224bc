"""``python -m edge_emotion.training {synth,prepare,info,train,cv,evaluate}``: the EEG+ECG
family.

- ``synth --out OUT``: write a synthetic AMIGOS-layout dataset (NOT emotion data;
  :mod:`.synth_cli`).
- ``prepare --data ROOT [--labels FILE]``: compute (or reuse) the feature cache; print
  counts and balance.
- ``info``: parameters and FLOPs of the base and MAAN models.
- ``train --data ROOT --out DIR``: train one model, hold out subjects for an honest score,
  write the export checkpoint ``model.pt`` (``edge_emotion.checkpoint/1``).
- ``cv --data ROOT --out DIR``: cross-validate base vs MAAN (and the logistic-regression
  baseline, ``--models base,maan,logreg``); Table 1 (Markdown, JSON), t-SNE / curves /
  confusion PNGs.
- ``evaluate --checkpoint model.pt | --bundle DIR --data DIR --out DIR``: score a trained
  model on other recordings (:mod:`.evaluate_cli`).

Data options (AMIGOS layout, or recordings with ``--labels``; modalities, channels,
normalisation): :mod:`.dataset_cli`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.figures import add_figure_args, figure_options_from_args
from edge_emotion.training import evaluate_cli, synth_cli
from edge_emotion.training.cli_options import add_train_args, train_config_from_args
from edge_emotion.training.dataset_cli import LoadedData, add_data_args, describe_line, load_data
from edge_emotion.training.families import EEG_ECG


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The EEG+ECG family's subcommands, each with its handler (``args.run``)."""
    synth_cli.add_command(sub)

    p = sub.add_parser(
        "prepare",
        help="compute or reuse the feature cache and summarise it",
        description="Compute (or reuse) the feature cache of a dataset; print counts, "
        "skipped trials and class balance.",
        epilog="example: %(prog)s --data data/synth --cache-dir feature_cache",
    )
    add_data_args(p)
    p.add_argument("--force", action="store_true", help="recompute even if cached")
    p.set_defaults(run=cmd_prepare)

    info = sub.add_parser(
        "info",
        help="parameters and FLOPs of the models",
        description="Parameters and FLOPs per 10-s segment of the base and MAAN models at the "
        "given model size (the default input shapes: 14 EEG channels and ECG).",
        epilog="example: %(prog)s --hidden 128",
    )
    _add_model_args(info)
    info.set_defaults(run=cmd_info)

    train = sub.add_parser(
        "train",
        help="train one model and write the export checkpoint",
        description="Train one model on all but the held-out subjects; write model.pt (for "
        "python -m edge_emotion.export), metrics.json and curves.",
        epilog="example: %(prog)s --data data/synth --out runs/maan --epochs 30",
    )
    _add_option_groups(train)
    train.add_argument("--out", required=True, help="run folder (checkpoint, metrics, curves)")
    train.add_argument(
        "--model", choices=EEG_ECG.model_names, default="maan", help="which network to train"
    )
    train.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of subjects held out for the reported score (0: train on all)",
    )
    train.set_defaults(run=cmd_train, distributed=True)

    cv = sub.add_parser(
        "cv",
        help="cross-validate base vs MAAN; Table 1 and figures",
        description="Cross-validate base vs MAAN (and the logistic-regression baseline); write "
        "table1.md, results.json and the t-SNE, curves and confusion figures.",
        epilog="example: %(prog)s --data data/synth --protocol subject --folds 10 --out runs/loso",
    )
    _add_option_groups(cv)
    cv.add_argument("--out", required=True, help="run folder (reports, figures, fold states)")
    cv.add_argument(
        "--protocol",
        choices=EEG_ECG.protocols,
        default="segment",
        help="segment: the paper's folds over windows (optimistic); subject: leave subjects out",
    )
    cv.add_argument("--folds", type=int, default=10, help="number of folds")
    cv.add_argument(
        "--models",
        help="comma-separated: base, maan, logreg (the feature baseline); default base,maan "
        "(base for one modality)",
    )
    cv.set_defaults(run=cmd_cv, distributed=True)
    evaluate_cli.add_command(sub)


def _add_option_groups(p: argparse.ArgumentParser) -> None:
    add_data_args(p)
    add_train_args(p)
    _add_model_args(p)
    add_figure_args(p)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model size")
    g.add_argument("--eeg-width", type=int, default=16, help="EEG encoder channels")
    g.add_argument("--ecg-width", type=int, default=16, help="ECG encoder channels")
    g.add_argument("--hidden", type=int, default=64, help="width of the fused representation")
    g.add_argument("--depth", type=int, default=2, help="attention / encoder blocks")
    g.add_argument("--dropout", type=float, default=0.3, help="dropout probability")


def _model_overrides(args) -> dict[str, Any]:
    return {
        "eeg_width": args.eeg_width,
        "ecg_width": args.ecg_width,
        "hidden": args.hidden,
        "depth": args.depth,
        "dropout": args.dropout,
    }


def _log(*parts: Any) -> None:
    from edge_emotion.training.loop import is_main_process

    if is_main_process():
        print(*parts, flush=True)


def _load(args) -> LoadedData:
    import torch.distributed as dist

    if dist.is_initialized():
        # Rank 0 computes and writes the cache; the others read it once it is complete.
        if dist.get_rank() == 0:
            load_data(args, say=_log)
        dist.barrier()
    data = load_data(args, say=_log)
    _log(f"features: {data.cache} ({'reused' if data.cached else 'written'})")
    _log(describe_line(data.info))
    if data.arrays.synthetic:
        _log("note: SYNTHETIC data - accuracies are pipeline checks, not emotion results")
    return data


def cmd_prepare(args) -> int:
    t0 = time.perf_counter()
    data = load_data(args, force=args.force)
    verb = "reused" if data.cached else "wrote"
    print(f"{verb} {data.cache}")
    print(f"{verb} {data.cache.with_suffix('.json')}")
    print(describe_line(data.info))
    shapes = ", ".join(f"{m} {x.shape}" for m, x in data.arrays.inputs().items())
    fc = data.feature_config
    print(
        f"{shapes}; EEG {len(fc.eeg_channels)} channels at {fc.eeg_fs:g} Hz "
        f"({', '.join(fc.eeg_channels) or 'none'}), ECG at {fc.ecg_fs:g} Hz; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0


def model_summary(config: dict[str, Any]) -> dict[str, Any]:
    """Parameters and FLOPs per segment of the EEG+ECG model ``config`` describes."""
    cfg = EEG_ECG.config_dict(config)
    parameters, flops = EEG_ECG.size(EEG_ECG.build(cfg), cfg)
    return {"name": cfg["name"], "parameters": parameters, "flops_per_segment": flops}


def cmd_info(args) -> int:

    for name in ("base", "maan"):
        s = model_summary({**_model_overrides(args), "name": name})
        print(
            f"{name}: {s['parameters']:,} parameters, {s['flops_per_segment'] / 1e6:.2f} MFLOPs "
            "per segment (FlopCounterMode, batch 1)"
        )
    return 0


def cmd_train(args) -> int:
    from edge_emotion.training.checkpoint import save_checkpoint
    from edge_emotion.training.cv import (
        FoldData,
        fit_model_config,
        input_shapes,
        normalized_tensors,
        train_one,
    )
    from edge_emotion.training.loop import is_main_process, predict
    from edge_emotion.training.metrics import majority_rate, multitarget_binary_metrics
    from edge_emotion.training.plots import plot_curves

    data = _load(args)
    arrays, labels, targets = data.arrays, data.labels, data.arrays.targets
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    subjects = np.unique(arrays.subject)
    n_hold = round(args.holdout * subjects.size) if args.holdout > 0 else 0
    if args.holdout > 0 and not 1 <= n_hold < subjects.size:
        raise ValueError(
            f"--holdout {args.holdout} leaves no training or no test subject "
            f"({subjects.size} subjects)"
        )
    held = np.random.default_rng(args.seed).permutation(subjects)[:n_hold]
    test_mask = np.isin(arrays.subject, held)
    tr, te = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    mcfg = EEG_ECG.config_dict(
        fit_model_config(
            {
                **_model_overrides(args),
                **input_shapes(arrays.inputs(), len(targets)),
                "name": _model_name(args.model, arrays.modalities),
            }
        )
    )
    tcfg = train_config_from_args(args)
    test = FoldData.of(arrays, labels, te) if te.size else None
    model, norm, result = train_one(
        mcfg,
        FoldData.of(arrays, labels, tr),
        tcfg,
        test=test,
        targets=targets,
        state_path=out / "resume.pt",
        progress=not args.no_progress,
        desc=mcfg["name"],
        normalization_mode=data.normalization_mode,
    )
    metrics: dict[str, Any] = {
        "train_segments": int(tr.size),
        "segments_per_second": result["segments_per_second"],
    }
    if test is not None:
        logits = predict(
            model, normalized_tensors(norm, test.inputs), device=tcfg.device, amp=tcfg.amp
        )
        metrics["holdout_subjects"] = [arrays.subject_names[i] for i in held]
        metrics["holdout"] = multitarget_binary_metrics(
            test.labels, 1 / (1 + np.exp(-logits)), targets
        )
    if not is_main_process():
        return 0
    ckpt = EEG_ECG.make_checkpoint(
        model,
        mcfg,
        metrics=metrics,
        dataset=data.dataset_record,
        feature_config=data.feature_config.to_dict(),
        normalization=norm.to_dict(),
        targets=list(targets),
        thresholds={t: 0.5 for t in targets},
    )
    written = [save_checkpoint(ckpt, out / "model.pt")]
    summary = {
        "model": model_summary(mcfg),
        "train": {k: v for k, v in result.items() if k != "history"},
        "history": result["history"],
        "metrics": metrics,
        "data": data.info,
        "train_config": tcfg.to_dict(),
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    written.append(out / "metrics.json")
    hold = metrics.get("holdout", {})
    written += plot_curves(
        {mcfg["name"]: {"folds": [result]}},
        out / "curves.png",
        chance={t: majority_rate(hold[t]["confusion"]) for t in hold},
        title=f"Training curves ({mcfg['name']}; test = held-out subjects)",
        synthetic=arrays.synthetic,
        figure=figure_options_from_args(args),
    )
    for p in written:
        print(f"wrote {p}")
    fc = data.feature_config
    print(
        f"trained {mcfg['name']} ({'+'.join(fc.modalities)}, {len(fc.eeg_channels)} EEG "
        f"channels, depth {mcfg['depth']}) on {tr.size} windows in {result['seconds']:.1f} s "
        f"({result['segments_per_second']:.0f} windows/s, {result['device']})"
    )
    if "holdout" in metrics:
        h = metrics["holdout"]
        scores = ", ".join(
            f"{t} accuracy {h[t]['accuracy']:.3f} balanced {h[t]['balanced_accuracy']:.3f}"
            for t in targets
        )
        print(
            f"held-out subjects {metrics['holdout_subjects']}: {scores}"
            + (" (SYNTHETIC data, not emotion results)" if arrays.synthetic else "")
        )
    return 0


def _model_name(asked: str, modalities: tuple[str, ...]) -> str:
    """``maan`` needs both modalities: with one, the model is ``base`` (said so)."""
    if asked == "maan" and len(modalities) < 2:
        _log(f"note: one modality ({modalities[0]}): training the base model (MAAN needs two)")
        return "base"
    return asked


def cmd_cv(args) -> int:
    from edge_emotion.training.baseline import LOGREG, baseline_size
    from edge_emotion.training.cv import CVConfig, run_cv
    from edge_emotion.training.loop import is_main_process
    from edge_emotion.training.metrics import majority_rate
    from edge_emotion.training.plots import plot_confusions, plot_curves, plot_tsne
    from edge_emotion.training.reports import write_cv_report

    data = _load(args)
    arrays, targets = data.arrays, data.arrays.targets
    default = "base,maan" if len(arrays.modalities) == 2 else "base"
    models = tuple(m.strip() for m in (args.models or default).split(",") if m.strip())
    if "maan" in models and len(arrays.modalities) < 2:
        raise ValueError(
            f"--models maan needs EEG and ECG; the data holds {arrays.modalities[0]} only "
            "(use base, logreg)"
        )
    cvc = CVConfig(protocol=args.protocol, n_folds=args.folds, models=models, seed=args.seed)
    tcfg = train_config_from_args(args)
    t0 = time.perf_counter()
    results = run_cv(
        arrays.inputs(),
        data.labels,
        arrays.subject,
        cvc,
        tcfg,
        args.out,
        model_overrides=_model_overrides(args),
        targets=targets,
        progress=not args.no_progress,
        normalization_mode=data.normalization_mode,
    )
    wall = time.perf_counter() - t0
    if not is_main_process():
        return 0
    out = Path(args.out)
    deep = {n: r for n, r in results["models"].items() if n != LOGREG}
    sizes = {name: model_summary(res["model_config"]) for name, res in deep.items()}
    if LOGREG in results["models"]:
        sizes[LOGREG] = baseline_size(arrays.inputs(), len(targets))
    fc = data.feature_config
    meta = {
        "dataset": data.dataset_record["name"],
        "synthetic": arrays.synthetic,
        "segments": len(arrays),
        "data": data.info,
        "cache": str(data.cache),
        "feature_config": fc.to_dict(),
        "normalization_mode": list(data.normalization_mode),
        "train_config": tcfg.to_dict(),
        "cv_config": asdict(cvc),
        "model_sizes": sizes,
        "wall_seconds": wall,
    }
    written = write_cv_report(results, out, meta, targets)
    embeddings = {}
    for name in deep:
        f = out / f"embeddings-{name}.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                embeddings[name] = (z["embedding"], z["labels"])
    style = {"synthetic": arrays.synthetic, "figure": figure_options_from_args(args)}
    if embeddings and min(len(v[0]) for v in embeddings.values()) >= 5:
        written += plot_tsne(embeddings, out / "tsne.png", targets, **style)
    if deep:
        # every segment is tested once: the summed confusions count the test labels
        summary = next(iter(results["models"].values()))["summary"]
        chance = {t: majority_rate(summary[t]["confusion"]) for t in targets}
        written += plot_curves(deep, out / "curves.png", chance=chance, **style)
    written += plot_confusions(results["models"], out / "confusion.png", targets, **style)
    for p in written:
        print(f"wrote {p}")
    print((out / "table1.md").read_text())
    seen = sum(
        f["segments_per_second"] * f["train_seconds"] for m in deep.values() for f in m["folds"]
    )
    print(f"cv wall time {wall:.1f} s; {seen / max(wall, 1e-9):.0f} training windows/s overall")
    return 0
