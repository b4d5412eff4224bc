"""The EAV experiment's report: ``report.md`` (accuracy, macro F1, size, missing-modality
accuracy per variant) and its figures (confusion matrices, training curves, t-SNE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.training.datasets.eav_layout import EMOTIONS, MODALITIES
from edge_emotion.training.plots import plot_confusions, plot_curves, plot_tsne
from edge_emotion.training.reports import SYNTHETIC_NOTE, markdown_table, mean_std_cell


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
