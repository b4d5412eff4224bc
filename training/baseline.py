"""The simple baseline every deep model is judged against: logistic regression on the
same features.

From each window's model inputs (nothing else):

- EEG: the differential entropy of each band and electrode, averaged over the window's
  sub-windows (``bands x channels`` numbers);
- ECG: heart rate (60 / mean RR), SDNN and RMSSD of the window's RR intervals (the
  positive slots of the zero-embedded series; consecutive slots are consecutive beats).

Each feature is standardised on the training fold; scikit-learn's ``LogisticRegression``
(L2, ``C`` fixed in advance at 1.0, classes weighted inversely to their frequency, as
the deep models' loss is) is fitted per target. No hyper-parameter is tuned: the numbers
it gives on test folds are what a fixed, simple recipe reaches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_emotion.training.metrics import multitarget_binary_metrics

LOGREG = "logreg"
DEFAULT_C = 1.0


def baseline_config(normalization_mode: tuple[str, float | None] = ("global", None)) -> dict:
    """What the baseline is, for reports and run identities."""
    return {
        "features": "band DE (mean over sub-windows) per channel; HR, SDNN, RMSSD",
        "C": DEFAULT_C,
        "class_weight": "balanced",
        "normalization_mode": list(normalization_mode),
    }


def window_features(inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """``(N, features)`` float64 and the feature names, from raw model inputs by name."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    if "eeg" in inputs:
        de = np.asarray(inputs["eeg"], np.float64).mean(axis=3)  # (N, bands, channels)
        n, b, c = de.shape
        cols.append(de.reshape(n, b * c))
        names += [f"de[{i},{j}]" for i in range(b) for j in range(c)]
    if "ecg" in inputs:
        rr = np.asarray(inputs["ecg"], np.float64).reshape(len(inputs["ecg"]), -1)
        cols.append(np.stack([_heart(row) for row in rr]))
        names += ["hr_bpm", "sdnn_s", "rmssd_s"]
    if not cols:
        raise ValueError("the baseline needs EEG or ECG inputs")
    return np.concatenate(cols, axis=1), names


def baseline_size(inputs: dict[str, np.ndarray], n_targets: int) -> dict[str, int]:
    """Parameters (weights and bias, plus the scaler's mean and scale, per target) and
    multiply-adds per window of the fitted baseline, for the reports' size table."""
    n = window_features({m: x[:1] for m, x in inputs.items()})[0].shape[1]
    return {"parameters": (3 * n + 1) * n_targets, "flops_per_segment": 4 * n * n_targets}


def _heart(rr_row: np.ndarray) -> np.ndarray:
    beats = rr_row[rr_row > 0]
    if beats.size == 0:
        return np.zeros(3)
    diffs = np.diff(beats)
    rmssd = float(np.sqrt(np.mean(diffs**2))) if diffs.size else 0.0
    return np.array([60.0 / beats.mean(), beats.std(), rmssd])


def fit_baseline_fold(
    train: Any, test: Any, targets: Sequence[str], config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fit on ``train`` and score ``test`` (each with ``inputs`` and ``labels``); returns
    the fold record's ``metrics`` (as the deep models'), ``train_seconds`` and ``device``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = float((config or {}).get("C", DEFAULT_C))
    t0 = time.perf_counter()
    x_tr, _ = window_features(train.inputs)
    x_te, _ = window_features(test.inputs)
    probs = np.zeros(test.labels.shape, np.float64)
    for i in range(len(targets)):
        y = np.asarray(train.labels[:, i])
        if np.unique(y).size < 2:
            probs[:, i] = float(y[0])  # one class in training: predict it
            continue
        clf = make_pipeline(
            StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        )
        clf.fit(x_tr, y)
        probs[:, i] = clf.predict_proba(x_te)[:, 1]
    seconds = time.perf_counter() - t0
    return {
        "metrics": multitarget_binary_metrics(test.labels, probs, targets),
        "history": [],
        "train_seconds": seconds,
        "segments_per_second": len(x_tr) / seconds if seconds > 0 else float("nan"),
        "segments_seen_per_rank": len(x_tr),
        "world_size": 1,
        "device": "cpu (scikit-learn)",
    }
