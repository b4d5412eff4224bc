"""Classification metrics, model-agnostic: multi-target binary and multi-class.

Binary metrics follow the paper's Table 1 (Woo et al. 2023): accuracy, sensitivity
(recall of the high class, TP/(TP+FN)), specificity (TN/(TN+FP)), precision (positive
predictive rate, "PPR", TP/(TP+FP)) and F1; plus balanced accuracy, the mean of
sensitivity and specificity (chance is 0.5 whatever the class balance, where plain
accuracy rewards always answering the larger class). A ratio with an empty denominator
is reported as 0.0 (and the confusion matrix shows why).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINARY_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "precision",
    "f1",
)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def binary_confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts ``[[TN, FP], [FN, TP]]`` (rows: truth low/high; columns: predicted)."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.shape}, {y_pred.shape}"
        )
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, sensitivity, specificity, precision (PPR), F1 of 0/1
    predictions."""
    (tn, fp), (fn, tp) = binary_confusion(y_true, y_pred)
    sens = _ratio(tp, tp + fn)
    spec = _ratio(tn, tn + fp)
    prec = _ratio(tp, tp + fp)
    return {
        "accuracy": _ratio(tp + tn, tn + fp + fn + tp),
        "balanced_accuracy": (sens + spec) / 2,
        "sensitivity": sens,
        "specificity": spec,
        "precision": prec,
        "f1": _ratio(2 * prec * sens, prec + sens),
    }


def multitarget_binary_metrics(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    targets: Sequence[str],
    thresholds: Sequence[float] | float = 0.5,
) -> dict[str, dict]:
    """Per target: binary metrics plus ``"confusion"`` (nested list) from P(high) >= threshold."""
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities)
    if y_true.shape != probabilities.shape or y_true.ndim != 2 or y_true.shape[1] != len(targets):
        raise ValueError(
            f"y_true and probabilities must both be (N, {len(targets)}), got {y_true.shape} "
            f"and {probabilities.shape}"
        )
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(targets),))
    out = {}
    for i, t in enumerate(targets):
        pred = probabilities[:, i] >= thr[i]
        m = binary_metrics(y_true[:, i], pred)
        m["confusion"] = binary_confusion(y_true[:, i], pred).tolist()
        out[t] = m
    return out


def majority_rate(confusion: Sequence[Sequence[int]]) -> float:
    """The accuracy of always answering the most frequent true class of a confusion matrix
    (rows: true): the chance level a classifier must beat, 0.5 only for balanced classes."""
    counts = np.asarray(confusion, dtype=np.float64).sum(axis=1)
    return _ratio(counts.max(initial=0.0), counts.sum())


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, balanced accuracy (mean recall over the classes present), macro F1,
    per-class recall/precision and the confusion matrix."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(np.float64)
    recall = [_ratio(tp[k], cm[k].sum()) for k in range(n_classes)]
    precision = [_ratio(tp[k], cm[:, k].sum()) for k in range(n_classes)]
    f1 = [_ratio(2 * p * r, p + r) for p, r in zip(precision, recall, strict=True)]
    present = cm.sum(axis=1) > 0
    return {
        "accuracy": _ratio(tp.sum(), cm.sum()),
        "balanced_accuracy": float(np.mean(np.asarray(recall)[present])) if present.any() else 0.0,
        "macro_f1": float(np.mean(f1)),
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "confusion": cm.tolist(),
    }


def summarize_folds(fold_metrics: Sequence[dict]) -> dict:
    """Mean and SD (population, ddof=0) over folds of every numeric leaf; confusions summed.

    Input: one ``{target: {metric: value, "confusion": [[..]]}}`` dict per fold. Output:
    ``{target: {metric: {"mean": m, "std": s, "values": [...]}, "confusion": summed}}``.
    """
    if not fold_metrics:
        raise ValueError("fold_metrics must hold at least one fold")
    out: dict = {}
    for target in fold_metrics[0]:
        entry: dict = {}
        for key, value in fold_metrics[0][target].items():
            values = [f[target][key] for f in fold_metrics]
            if key == "confusion":
                entry[key] = np.sum(np.asarray(values), axis=0).tolist()
            elif isinstance(value, (int, float)):
                arr = np.asarray(values, dtype=np.float64)
                entry[key] = {
                    "mean": float(arr.mean()),
                    "std": float(arr.std()),
                    "values": arr.tolist(),
                }
        out[target] = entry
    return out
