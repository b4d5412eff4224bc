"""The EAV experiment's report: ``report.md`` (accuracy, macro F1, size, missing-modality
accuracy per variant) and its figures (confusion matrices, training curves, t-SNE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.figures import FigureOptions
from edge_emotion.training.datasets.eav_layout import EMOTIONS, MODALITIES
from edge_emotion.training.metrics import majority_rate
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
                mean_std_cell(s["balanced_accuracy"]) if "balanced_accuracy" in s else "—",
                mean_std_cell(s["macro_f1"]),
                f"{v['parameters']:,}",
                f"{v['flops_per_window'] / 1e6:.1f} M",
                *(
                    f"{100 * mm[f'without_{m}']:.2f}" if f"without_{m}" in mm else "—"
                    for m in MODALITIES
                ),
            ]
        )
    header = ["Variant", "Acc", "BAcc", "Macro F1", "Parameters", "FLOPs / window"]
    lines += markdown_table(header + [f"Acc w/o {m}" for m in MODALITIES], rows)
    lines += [
        "",
        "Values: mean ± SD over splits, in %. BAcc: balanced accuracy, the mean recall over",
        "the classes (chance: 20 % whatever the balance).",
        *_majority_line(results),
        "`fusion`: tokens of every modality attend to each other (a fusion [CLS] reads them);",
        "`fusion-concat`: the modalities' [CLS] vectors concatenated into one linear layer",
        "(the dense-layer fusion of the reference code, nubcico/EAV).",
        "`Acc w/o X`: accuracy (mean over splits, %) of the same trained model with modality X",
        "zeroed and masked.",
        f"Classes: {', '.join(EMOTIONS)}.",
        "",
    ]
    return "\n".join(lines)


def _chance(results: dict[str, Any]) -> float | None:
    """Majority-class rate of the test windows (summed over splits; every variant is tested
    on the same splits)."""
    variants = list(results["variants"].values())
    return majority_rate(variants[0]["summary"]["confusion"]) if variants else None


def _majority_line(results: dict[str, Any]) -> list[str]:
    rate = _chance(results)
    if rate is None:
        return []
    return [f"Majority class: always answering the most frequent class scores {100 * rate:.2f} %."]


def write_figures(
    results: dict[str, Any],
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]],
    out: Path,
    figure: FigureOptions | None = None,
) -> list[Path]:
    """``confusion`` (summed over splits), ``curves`` and, with at least 5 test windows per
    variant, ``tsne`` (the paper's Fig. 2 for 5 classes, last split), in ``figure``'s
    formats."""
    variants = results["variants"]
    synthetic = bool(results.get("dataset", {}).get("synthetic"))
    protocol = results["protocol"]
    target = ("emotion",)
    rate = _chance(results)
    paths = [
        *plot_confusions(
            {n: {"summary": {"emotion": v["summary"]}} for n, v in variants.items()},
            out / "confusion.png",
            target,
            EMOTIONS,
            title=f"EAV confusion matrices summed over splits ({protocol}); "
            "colour: share of the true class",
            synthetic=synthetic,
            figure=figure,
        ),
        *plot_curves(
            {n: {"folds": [{"history": h} for h in v["histories"]]} for n, v in variants.items()},
            out / "curves.png",
            "cross-entropy loss",
            chance=None if rate is None else {"accuracy": rate},
            title=f"EAV training curves ({protocol}; thin: splits, bold: mean)",
            synthetic=synthetic,
            figure=figure,
        ),
    ]
    if embeddings and min(len(e[1]) for e in embeddings.values()) >= 5:
        paths.extend(
            plot_tsne(
                embeddings,
                out / "tsne.png",
                target,
                EMOTIONS,
                title="t-SNE of the features before the classifier (last split, test windows)",
                synthetic=synthetic,
                figure=figure,
            )
        )
    return paths
