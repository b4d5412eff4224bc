"""``python -m edge_emotion.training {synth,prepare,info,train,cv}``: the EEG+ECG family.

- ``synth OUT``: write a synthetic AMIGOS-layout dataset (NOT emotion data).
- ``prepare --data ROOT``: compute (or reuse) the feature cache; print counts and balance.
- ``info``: parameters and FLOPs of the base and MAAN models.
- ``train --data ROOT --out DIR``: train one model, hold out subjects for an honest score,
  write the export checkpoint ``model.pt`` (``edge_emotion.checkpoint/1``).
- ``cv --data ROOT --out DIR``: cross-validate base vs MAAN; Table 1 (Markdown, JSON),
  t-SNE / curves / confusion PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.training.cli_options import add_train_args, train_config_from_args
from edge_emotion.training.families import EEG_ECG


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The EEG+ECG family's subcommands, each with its handler (``args.run``)."""
    p = sub.add_parser("synth", help="write a synthetic AMIGOS-layout dataset (not emotion data)")
    p.add_argument("out", help="folder to write Data_Preprocessed_P##.mat files into")
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--trials", type=int, default=16, help="trials per subject (<= 20)")
    p.add_argument("--min-s", type=float, default=50.0, help="shortest stimulus, s")
    p.add_argument("--max-s", type=float, default=120.0, help="longest stimulus, s")
    p.add_argument("--missing", type=float, default=0.05, help="share of trials stored empty")
    p.add_argument("--effect", type=float, default=1.0, help="strength of planted effects")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layout", choices=("flat", "per_participant"), default="flat")
    p.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    p.add_argument(
        "--force",
        action="store_true",
        help="write into OUT even if it holds files synth did not write (same names overwritten)",
    )
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("prepare", help="compute or reuse the feature cache and summarise it")
    _add_data_args(p)
    p.add_argument("--force", action="store_true", help="recompute even if cached")
    p.set_defaults(run=cmd_prepare)

    info = sub.add_parser("info", help="parameters and FLOPs of the models")
    _add_option_groups(info, data=False)
    info.set_defaults(run=cmd_info)

    train = sub.add_parser("train", help="train one model and write the export checkpoint")
    _add_option_groups(train)
    train.add_argument("--out", required=True, help="run folder (checkpoint, metrics, curves)")
    train.add_argument("--model", choices=EEG_ECG.model_names, default="maan")
    train.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of subjects held out for the reported score (0: train on all)",
    )
    train.set_defaults(run=cmd_train, distributed=True)

    cv = sub.add_parser("cv", help="cross-validate base vs MAAN; Table 1 and figures")
    _add_option_groups(cv)
    cv.add_argument("--out", required=True, help="run folder (reports, figures, fold states)")
    cv.add_argument("--protocol", choices=EEG_ECG.protocols, default="segment")
    cv.add_argument("--folds", type=int, default=10)
    cv.add_argument("--models", default="base,maan", help="comma-separated: base,maan")
    cv.set_defaults(run=cmd_cv, distributed=True)


def _add_option_groups(p: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        _add_data_args(p)
    add_train_args(p)
    _add_model_args(p)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, help="AMIGOS preprocessed folder (real or synthetic)")
    g.add_argument("--cache-dir", default="feature_cache", help="feature cache folder")
    g.add_argument(
        "--segment-hop", type=float, default=2.0, help="seconds between 10-s training windows"
    )
    g.add_argument("--ecg-lead", choices=("right", "left"), default="right")
    g.add_argument("--trials", choices=("short", "long", "all"), default="short")
    g.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    g.add_argument(
        "--feature-config", help="JSON file with a FeatureConfig.to_dict() (default: defaults)"
    )
    g.add_argument(
        "--label-method", choices=("fixed", "subject_mean", "subject_median"), default="fixed"
    )
    g.add_argument("--threshold", type=float, default=5.0, help="rating >= threshold is high")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model size")
    g.add_argument("--eeg-width", type=int, default=16)
    g.add_argument("--ecg-width", type=int, default=16)
    g.add_argument("--hidden", type=int, default=64)
    g.add_argument("--depth", type=int, default=2)
    g.add_argument("--dropout", type=float, default=0.3)


def _model_overrides(args) -> dict[str, Any]:
    return {
        "eeg_width": args.eeg_width,
        "ecg_width": args.ecg_width,
        "hidden": args.hidden,
        "depth": args.depth,
        "dropout": args.dropout,
    }


def _feature_config(args):
    from edge_emotion.kernels.config import FeatureConfig

    if not args.feature_config:
        return FeatureConfig()
    return FeatureConfig.from_dict(json.loads(Path(args.feature_config).read_text()))


def _dataset(args):
    from edge_emotion.training.data import DatasetConfig, LabelConfig

    return DatasetConfig(
        root=args.data,
        cache_dir=args.cache_dir,
        segment_hop_s=args.segment_hop,
        ecg_lead=args.ecg_lead,
        trials=args.trials,
        labels=LabelConfig(args.label_method, args.threshold),
        workers=args.workers,
    )


def _log(*parts: Any) -> None:
    from edge_emotion.training.loop import is_main_process

    if is_main_process():
        print(*parts, flush=True)


def _load(args):
    import torch.distributed as dist

    from edge_emotion.training.data import describe, prepare_features

    dataset = _dataset(args)
    fc = _feature_config(args)
    if dist.is_initialized():
        # Rank 0 computes and writes the cache; the others read it once it is complete.
        if dist.get_rank() == 0:
            prepare_features(dataset, fc, progress=not args.no_progress)
        dist.barrier()
    arrays, path, cached = prepare_features(dataset, fc, progress=not args.no_progress)
    info = describe(arrays, dataset.labels)
    _log(f"features: {path} ({'reused' if cached else 'written'})")
    _log(_describe_line(info))
    if arrays.synthetic:
        _log("note: SYNTHETIC data - accuracies are pipeline checks, not emotion results")
    return dataset, fc, arrays, path, info


def _describe_line(info: dict) -> str:
    cb = info["class_balance"]
    ls = info["load_summary"]
    return (
        f"data: {info['segments']} segments, {info['trials']} trials, {info['subjects']} subjects; "
        f"skipped trials: {ls.get('trials_skipped', 0)} {ls.get('skipped_by_reason', {})}; "
        f"other ECG lead (chosen lead NaN): {ls.get('ecg_lead_fallback', 0)} trials; "
        f"high arousal {cb['arousal']['high_fraction']:.1%}, "
        f"high valence {cb['valence']['high_fraction']:.1%}"
    )


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
    folder = OwnedFolder(args.out, "training synth", force=args.force, label="OUT")
    write_amigos_layout(cfg, args.out, args.layout, args.workers, progress=True)
    for p in folder.record():
        print(f"wrote {p}")
    print(
        f"synthetic AMIGOS-layout dataset: {cfg.n_subjects} subjects x {cfg.n_trials} trials "
        f"in {time.perf_counter() - t0:.1f} s (NOT emotion data)"
    )
    return 0


def cmd_prepare(args) -> int:
    from edge_emotion.training.data import prepare_features

    dataset = _dataset(args)
    fc = _feature_config(args)
    t0 = time.perf_counter()
    arrays, path, cached = prepare_features(
        dataset, fc, progress=not args.no_progress, force=args.force
    )
    from edge_emotion.training.data import describe

    info = describe(arrays, dataset.labels)
    print(f"{'reused' if cached else 'wrote'} {path}")
    print(f"{'reused' if cached else 'wrote'} {path.with_suffix('.json')}")
    print(_describe_line(info))
    print(f"eeg {arrays.eeg.shape}, ecg {arrays.ecg.shape}, {time.perf_counter() - t0:.1f} s")
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
    from edge_emotion.training.cv import FoldData, normalized_tensors, train_one
    from edge_emotion.training.data import TARGETS
    from edge_emotion.training.loop import is_main_process, predict
    from edge_emotion.training.metrics import multitarget_binary_metrics
    from edge_emotion.training.plots import plot_curves

    dataset, fc, arrays, cache, info = _load(args)
    labels = arrays.labels(dataset.labels)
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
    b, c, s = arrays.eeg.shape[1:]
    mcfg = EEG_ECG.config_dict(
        {
            **_model_overrides(args),
            "name": args.model,
            "n_bands": b,
            "n_channels": c,
            "n_subwindows": s,
            "hrv_length": arrays.ecg.shape[2],
        }
    )
    tcfg = train_config_from_args(args)
    test = FoldData(arrays.eeg[te], arrays.ecg[te], labels[te]) if te.size else None
    model, norm, result = train_one(
        mcfg,
        FoldData(arrays.eeg[tr], arrays.ecg[tr], labels[tr]),
        tcfg,
        test=test,
        state_path=out / "resume.pt",
        progress=not args.no_progress,
        desc=args.model,
    )
    metrics: dict[str, Any] = {
        "train_segments": int(tr.size),
        "segments_per_second": result["segments_per_second"],
    }
    if test is not None:
        t_eeg, t_ecg = normalized_tensors(norm, test.eeg, test.ecg)
        logits = predict(model, (t_eeg, t_ecg), device=tcfg.device, amp=tcfg.amp)
        metrics["holdout_subjects"] = [arrays.subject_names[i] for i in held]
        metrics["holdout"] = multitarget_binary_metrics(
            test.labels, 1 / (1 + np.exp(-logits)), TARGETS
        )
    if not is_main_process():
        return 0
    ckpt = EEG_ECG.make_checkpoint(
        model,
        mcfg,
        metrics=metrics,
        dataset={
            "name": "amigos-synthetic" if arrays.synthetic else "amigos",
            "synthetic": arrays.synthetic,
            "root": arrays.meta.get("root", ""),
            "segments": len(arrays),
            "labels": asdict(dataset.labels),
            "segment_hop_s": dataset.segment_hop_s,
            "feature_cache": str(cache),
        },
        feature_config=fc.to_dict(),
        normalization=norm.to_dict(),
        targets=list(TARGETS),
        thresholds={t: 0.5 for t in TARGETS},
    )
    written = [save_checkpoint(ckpt, out / "model.pt")]
    summary = {
        "model": model_summary(mcfg),
        "train": {k: v for k, v in result.items() if k != "history"},
        "history": result["history"],
        "metrics": metrics,
        "data": info,
        "train_config": tcfg.to_dict(),
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    written.append(out / "metrics.json")
    written.append(
        plot_curves(
            {args.model: {"folds": [result]}},
            out / "curves.png",
            chance=0.5,
            title=f"Training curves ({args.model}; test = held-out subjects)",
            synthetic=arrays.synthetic,
        )
    )
    for p in written:
        print(f"wrote {p}")
    print(
        f"trained {args.model} on {tr.size} segments in {result['seconds']:.1f} s "
        f"({result['segments_per_second']:.0f} segments/s, {result['device']})"
    )
    if "holdout" in metrics:
        h = metrics["holdout"]
        print(
            f"held-out subjects {metrics['holdout_subjects']}: accuracy arousal "
            f"{h['arousal']['accuracy']:.3f}, valence {h['valence']['accuracy']:.3f}"
            + (" (SYNTHETIC data, not emotion results)" if arrays.synthetic else "")
        )
    return 0


def cmd_cv(args) -> int:
    from edge_emotion.training.cv import CVConfig, run_cv
    from edge_emotion.training.loop import is_main_process
    from edge_emotion.training.plots import plot_confusions, plot_curves, plot_tsne
    from edge_emotion.training.reports import write_cv_report

    dataset, _fc, arrays, cache, info = _load(args)
    labels = arrays.labels(dataset.labels)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    cvc = CVConfig(protocol=args.protocol, n_folds=args.folds, models=models, seed=args.seed)
    tcfg = train_config_from_args(args)
    t0 = time.perf_counter()
    results = run_cv(
        arrays.eeg,
        arrays.ecg,
        labels,
        arrays.subject,
        cvc,
        tcfg,
        args.out,
        model_overrides=_model_overrides(args),
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - t0
    if not is_main_process():
        return 0
    out = Path(args.out)
    sizes = {name: model_summary(res["model_config"]) for name, res in results["models"].items()}
    meta = {
        "dataset": "amigos-synthetic" if arrays.synthetic else "amigos",
        "synthetic": arrays.synthetic,
        "segments": len(arrays),
        "data": info,
        "cache": str(cache),
        "train_config": tcfg.to_dict(),
        "cv_config": asdict(cvc),
        "model_sizes": sizes,
        "wall_seconds": wall,
    }
    written = write_cv_report(results, out, meta)
    embeddings = {}
    for name in results["models"]:
        f = out / f"embeddings-{name}.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                embeddings[name] = (z["embedding"], z["labels"])
    synthetic = arrays.synthetic
    if embeddings and min(len(v[0]) for v in embeddings.values()) >= 5:
        written.append(plot_tsne(embeddings, out / "tsne.png", synthetic=synthetic))
    written.append(
        plot_curves(results["models"], out / "curves.png", chance=0.5, synthetic=synthetic)
    )
    written.append(plot_confusions(results["models"], out / "confusion.png", synthetic=synthetic))
    for p in written:
        print(f"wrote {p}")
    print((out / "table1.md").read_text())
    seen = sum(
        f["segments_per_second"] * f["train_seconds"]
        for m in results["models"].values()
        for f in m["folds"]
    )
    print(f"cv wall time {wall:.1f} s; {seen / max(wall, 1e-9):.0f} training segments/s overall")
    return 0
