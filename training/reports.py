"""Result tables laid out like Table 1 of Woo et al. 2023 (base vs proposed), Markdown + JSON.

Rows are models (base, proposed MAAN), column groups are targets (arousal, valence), each
with accuracy, sensitivity, specificity, PPR (precision) and F1 as mean ± SD over folds,
in percent. Generic: any ``{model: {"summary": summarize_folds(...)}}`` renders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_emotion.training.metrics import BINARY_METRICS, majority_rate

COLUMN_NAMES = {
    "accuracy": "Acc",
    "balanced_accuracy": "BAcc",
    "sensitivity": "Sens",
    "specificity": "Spec",
    "precision": "PPR",
    "f1": "F1",
}
MODEL_LABELS = {
    "base": "Base model",
    "maan": "Proposed (MAAN)",
    "logreg": "Logistic regression (features)",
}
SYNTHETIC_NOTE = (
    "**SYNTHETIC data** — generated physiology, NOT emotion recordings: these numbers only "
    "show that the pipeline learns the effects planted by the generator; they are not "
    "emotion-recognition results."
)

PROTOCOL_NOTES = {
    "segment": (
        "Protocol: the paper's 10-fold CV over segments. Windows of one trial (overlapping "
        "when the hop is shorter than the window) fall in both training and test folds, so "
        "this is optimistic; the subject-independent protocol is the honest estimate."
    ),
    "subject": (
        "Protocol: subject-independent (leave-subjects-out): no participant's segments are "
        "in both the training and the test fold."
    ),
}


def mean_std_cell(stat: dict[str, float]) -> str:
    """``{"mean", "std"}`` of a fraction as ``"mean ± std"`` in percent, two decimals."""
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a Markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def table1_rows(
    models: dict[str, Any],
    targets: Sequence[str] = ("arousal", "valence"),
    metrics: Sequence[str] = BINARY_METRICS,
) -> list[dict[str, Any]]:
    """JSON rows: ``{"model", "label", target: {metric: {"mean", "std"}}}`` (fractions)."""
    rows = []
    for name, res in models.items():
        row: dict[str, Any] = {"model": name, "label": MODEL_LABELS.get(name, name)}
        for t in targets:
            row[t] = {
                m: {
                    "mean": res["summary"][t][m]["mean"],
                    "std": res["summary"][t][m]["std"],
                }
                for m in metrics
            }
        rows.append(row)
    return rows


def table1_markdown(
    models: dict[str, Any],
    targets: Sequence[str] = ("arousal", "valence"),
    metrics: Sequence[str] = BINARY_METRICS,
    title: str | None = None,
    synthetic: bool = False,
) -> str:
    """Markdown table: one row per model, ``target metric`` columns, mean ± SD in %."""
    header = ["Model"] + [
        f"{t.capitalize()} {COLUMN_NAMES.get(m, m)}" for t in targets for m in metrics
    ]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    if synthetic:
        lines += [SYNTHETIC_NOTE, ""]
    lines += markdown_table(
        header,
        [
            [row["label"]] + [mean_std_cell(row[t][m]) for t in targets for m in metrics]
            for row in table1_rows(models, targets, metrics)
        ],
    )
    lines.append("")
    lines.append(
        "Values: mean ± SD over folds, in %. BAcc = balanced accuracy (mean of sensitivity "
        "and specificity; chance 50 % whatever the balance). PPR = precision (positive "
        "predictive rate)."
    )
    lines.append(majority_line(models, targets))
    return "\n".join(lines) + "\n"


def majority_line(models: dict[str, Any], targets: Sequence[str]) -> str:
    """What always answering the larger class scores, per target, from the test labels
    (the summed confusion matrix of any model: all are tested on the same windows)."""
    summary = next(iter(models.values()))["summary"]
    rates = ", ".join(f"{t} {100 * majority_rate(summary[t]['confusion']):.2f} %" for t in targets)
    return f"Majority class (accuracy of always answering the larger class): {rates}."


def write_cv_report(
    results: dict[str, Any],
    out_dir: str | Path,
    meta: dict[str, Any],
    targets: Sequence[str] = ("arousal", "valence"),
) -> list[Path]:
    """Write ``table1.md`` and ``results.json`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synthetic = bool(meta.get("synthetic", False))
    title = (
        f"{results['protocol']}-wise {results['n_folds']}-fold cross-validation"
        f" ({meta.get('dataset', 'dataset')}, {meta.get('segments', '?')} segments)"
    )
    md = table1_markdown(results["models"], targets, title=title, synthetic=synthetic)
    md += "\n" + PROTOCOL_NOTES.get(results["protocol"], "") + "\n"
    sizes = []
    for name, res in results["models"].items():
        speeds = [f["segments_per_second"] for f in res["folds"]]
        info = meta.get("model_sizes", {}).get(name, {})
        sizes.append(
            [
                MODEL_LABELS.get(name, name),
                info.get("parameters", "?"),
                info.get("flops_per_segment", "?"),
                f"{sum(speeds) / len(speeds):.0f}",
            ]
        )
    header = ["Model", "Parameters", "FLOPs / segment", "Train segments/s (mean)"]
    extra = ["", *markdown_table(header, sizes)]
    md_path = out / "table1.md"
    md_path.write_text(md + "\n".join(extra) + "\n")
    payload = {
        "meta": meta,
        "protocol": results["protocol"],
        "n_folds": results["n_folds"],
        "fold_sizes": results["fold_sizes"],
        "table1": table1_rows(results["models"], targets),
        "models": results["models"],
    }
    if synthetic:
        payload["note"] = SYNTHETIC_NOTE.replace("**", "")
    json_path = out / "results.json"
    json_path.write_text(json.dumps(payload, indent=1))
    return [md_path, json_path]
